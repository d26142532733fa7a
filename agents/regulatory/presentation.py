"""How a document review reads to a compliance reviewer: its case, its tools' evidence and
proposals in words (the document's fingerprint once, sections counted from 1), and the section a
finding is about, for the reviewer to read with the quoted passage highlighted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agents.framework.presentation import CaseField, Passage, Shown
from agents.regulatory.documents import DocumentStore

CASE_FIELDS = (
    CaseField("title", "Document", searchable=True),
    CaseField("sections", "Sections", "integer", column=True),
    CaseField("uploaded_by", "Uploaded by", column=True),
    CaseField("document_id", "Document fingerprint"),
)

EVIDENCE = {
    # A finding reads in this order: the rule, how severe, where, what, why.
    "rule": Shown("Rule"),
    # A rule's title, not the document's (the case's `title`).
    "title": Shown("Rule breached"),
    "severity": Shown("Severity"),
    "source": Shown("Source"),
    "heading": Shown("Section heading"),
    "index": Shown("Section", "position"),
    "excerpt": Shown("Quoted passage"),
    "proposed_action": Shown("Proposed action"),
    "rationale": Shown("Why"),
    "finding_id": Shown("Finding reference"),
    "text": Shown("Section text"),
    "sections": Shown("Sections in the document", "integer"),
    "matches": Shown("Rules that may apply"),
    # The case shows the fingerprint; a finding's copy of it says nothing more.
    "document_id": Shown("Document fingerprint", "hidden"),
}

TOOL_LABELS = {
    "regulatory.read_section": "Section read",
    "regulatory.rulebook_search": "Rulebook search",
    "regulatory.record_finding": "Record finding",
}


def finding_passage(
    proposal: Mapping[str, Any], results: Sequence[Mapping[str, Any]], namespace: str
) -> Passage | None:
    """The section a finding quotes: as the run read it, if the gate carries that read; else from
    the sealed document store, which the portal shares with the worker."""
    index, quote = proposal.get("index"), str(proposal.get("excerpt") or "")
    if not isinstance(index, int) or isinstance(index, bool):
        return None
    for result in reversed(results):
        read = result.get("result")
        if (
            result.get("name") == "regulatory.read_section"
            and result.get("ok")
            and isinstance(read, Mapping)
            and read.get("index") == index
        ):
            return Passage(str(read.get("heading", "")), str(read.get("text", "")), quote)
    try:
        sections = DocumentStore.from_env(namespace).sections(str(proposal.get("document_id", "")))
    except (LookupError, ValueError, OSError):  # gone, keys rotated away, or a malformed id
        return None
    if not 0 <= index < len(sections):
        return None
    return Passage(sections[index].heading, sections[index].text, quote)

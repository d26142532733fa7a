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
    case: Mapping[str, Any],
    proposal: Mapping[str, Any],
    results: Sequence[Mapping[str, Any]],
    namespace: str,
) -> Passage | None:
    """The section a finding quotes, from the document under review: the sealed store holds it
    (shared by the portal and the worker); the run's own read of it, if the store cannot be read.
    None for a finding that names another document than the case's: the model wrote that id, and
    showing another document's words under this one would mislead."""
    index, quote = proposal.get("index"), str(proposal.get("excerpt") or "")
    document_id = str(case.get("document_id") or "")
    if not isinstance(index, int) or isinstance(index, bool) or proposal.get("document_id") != document_id:
        return None
    try:
        sections = DocumentStore.from_env(namespace).sections(document_id)
    except (LookupError, ValueError, OSError):  # gone, keys rotated away, or a malformed id
        return _as_read(results, index, quote)
    if not 0 <= index < len(sections):
        return None
    return Passage(sections[index].heading, sections[index].text, quote)


def _as_read(results: Sequence[Mapping[str, Any]], index: int, quote: str) -> Passage | None:
    for result in reversed(results):
        read = result.get("result")
        if (
            result.get("name") == "regulatory.read_section"
            and result.get("ok")
            and isinstance(read, Mapping)
            and read.get("index") == index
        ):
            return Passage(str(read.get("heading", "")), str(read.get("text", "")), quote)
    return None

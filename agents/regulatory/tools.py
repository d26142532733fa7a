"""The regulatory review's tools: read a section, search the rulebook, record a finding.

Each is an Activity registered under a `regulatory.` name. Sections come from the claim-check
store by document id, so the document itself never enters workflow history; only the section
being read does, in the tool's result. A recorded finding is kept in the same store, and its
result names it by its hash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.framework.tools import tool
from agents.regulatory.documents import DocumentStore, Section
from agents.regulatory.rulebook import RULES, SEVERITIES, rules_matching, severity_rank

MAX_EXCERPT_CHARS = 500
MAX_TEXT_CHARS = 2000


@dataclass
class SectionArgs:
    document_id: str
    index: int


@dataclass
class FindingArgs:
    document_id: str
    index: int
    rule: str
    severity: str
    excerpt: str
    proposed_action: str
    rationale: str


@tool("regulatory.read_section", "Read one section of the document under review, by its index (from 0).")
async def read_section(args: SectionArgs) -> dict[str, Any]:
    sections = _sections(args.document_id)
    section = _section(sections, args.index)
    return {"index": args.index, "heading": section.heading, "text": section.text, "sections": len(sections)}


@tool(
    "regulatory.rulebook_search",
    "Search the compliance rulebook for the rules a section of the document may breach.",
)
async def rulebook_search(args: SectionArgs) -> dict[str, Any]:
    section = _section(_sections(args.document_id), args.index)
    matches = [
        {
            "rule": rule.id,
            "title": rule.title,
            "severity": rule.severity,
            "source": rule.source,
            "excerpt": excerpt,
            "proposed_action": rule.proposed_action,
        }
        for rule, excerpt in rules_matching(section_text(section))
    ]
    return {"index": args.index, "heading": section.heading, "matches": matches}


@tool(
    "regulatory.record_finding",
    "Record a finding: the rule breached, its severity, the excerpt, the proposed action and why. "
    "High and critical findings run only after a compliance reviewer approves them.",
)
async def record_finding(args: FindingArgs) -> dict[str, Any]:
    section = _section(_sections(args.document_id), args.index)
    refusal = finding_refusal(args, section)
    if refusal:
        # The model sees this and may try again; retrying the same arguments changes nothing.
        raise ApplicationError(refusal, type="FindingRefused", non_retryable=True)
    rule = RULES[args.rule]
    finding_id = f"{args.document_id[:12]}-s{args.index}-{rule.id}"
    finding = {
        "finding_id": finding_id,
        "index": args.index,
        "heading": section.heading,
        "rule": rule.id,
        "title": rule.title,
        "source": rule.source,
        "severity": args.severity,
        "excerpt": args.excerpt.strip(),
        "proposed_action": args.proposed_action.strip(),
        "rationale": args.rationale.strip(),
    }
    # The finding is kept in the document store; the result names it, so what a long review
    # carries from run to run is a few bytes per finding (agents/regulatory/report.py reads it).
    stored = _store().put_finding(finding)
    return {"finding_id": finding_id, "stored": stored}


def finding_refusal(args: FindingArgs, section: Section) -> str | None:
    """Why a finding may not be recorded as given; None if it may.

    The approval rule gates on the `severity` argument, so a finding recorded below its rule's
    severity (or with a severity spelled differently) would skip the reviewer: refuse it.
    """
    rule = RULES.get(args.rule)
    if rule is None:
        return f"Unknown rule '{args.rule}'; use a rule id from the rulebook search."
    if args.severity not in SEVERITIES:
        return f"Unknown severity '{args.severity}'; expected one of {', '.join(SEVERITIES)}."
    if severity_rank(args.severity) < severity_rank(rule.severity):
        return (
            f"Rule {rule.id} is {rule.severity}; a finding under it may not be recorded as {args.severity}."
        )
    excerpt = _normalised(args.excerpt)
    if not excerpt or len(args.excerpt) > MAX_EXCERPT_CHARS:
        return f"The excerpt must be a quotation from the section, 1 to {MAX_EXCERPT_CHARS} characters."
    if excerpt not in _normalised(section_text(section)):
        return "The excerpt does not occur in this section; quote the section verbatim."
    for name in ("proposed_action", "rationale"):
        value = getattr(args, name)
        if not value.strip() or len(value) > MAX_TEXT_CHARS:
            return f"The {name.replace('_', ' ')} must be 1 to {MAX_TEXT_CHARS} characters."
    return None


def section_text(section: Section) -> str:
    """What the rulebook reads: the body, then the heading (so excerpts quote the body first)."""
    return f"{section.text}\n\n{section.heading}"


def _store() -> DocumentStore:
    return DocumentStore.from_env(activity.info().namespace)


def _sections(document_id: str) -> list[Section]:
    try:
        return _store().sections(document_id)
    except ValueError as err:  # a malformed id from the model: asking again will not help
        raise ApplicationError(str(err), type="BadDocumentId", non_retryable=True) from err


def _section(sections: list[Section], index: int) -> Section:
    if not 0 <= index < len(sections):
        raise ApplicationError(
            f"No section {index}: the document has sections 0 to {len(sections) - 1}.",
            type="NoSuchSection",
            non_retryable=True,
        )
    return sections[index]


def _normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()

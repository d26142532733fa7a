"""The final review report: every finding with its human decision, composed in code.

`publish_report` runs once the agent has answered (the framework's `on_complete`). It lists the
findings from the tool calls and gates, not from the model's answer, and re-runs the rulebook over
every section, so a rule match the model never turned into a finding shows up as unaddressed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

from temporalio import activity

from agents.framework.types import AgentOutcome, GateSnapshot, ToolResult
from agents.regulatory.documents import DocumentStore
from agents.regulatory.rulebook import RULES, rules_matching
from agents.regulatory.tools import section_text

RECORD_FINDING = "regulatory.record_finding"
# The framework closes an unanswered gate as rejected by "system"; the report says what it means.
EXPIRED_BY = "system"


@activity.defn(name="regulatory.publish_report")
async def publish_report(outcome: AgentOutcome) -> dict[str, Any]:
    """Compose the review report; the workflow result and its history carry it to the portal."""
    store = DocumentStore.from_env(activity.info().namespace)
    sections = store.sections(outcome.case["document_id"])
    gates = {g.tool_call.id: g for g in outcome.gates if g.tool_call and g.tool_call.name == RECORD_FINDING}
    calls = [_as_recorded(r, store) for r in outcome.results if r.name == RECORD_FINDING]
    findings = [_finding(r, gates.get(r.call_id)) for r in calls if r.ok or r.call_id in gates]
    refused = [{"call_id": r.call_id, "error": r.error} for r in calls if not r.ok and r.call_id not in gates]
    for finding in findings:
        index = finding["section"]
        finding["heading"] = (
            sections[index].heading if index is not None and 0 <= index < len(sections) else ""
        )
    addressed = {(f["section"], f["rule"]) for f in findings}
    unaddressed = [
        {"section": i, "heading": s.heading, "rule": rule.id, "severity": rule.severity, "title": rule.title}
        for i, s in enumerate(sections)
        for rule, _ in rules_matching(section_text(s))
        if (i, rule.id) not in addressed
    ]
    return {
        "report": "regulatory review",
        "workflow_id": outcome.workflow_id,
        "document_id": outcome.case["document_id"],
        "title": outcome.case["title"],
        "uploaded_by": outcome.case["uploaded_by"],
        "sections": len(sections),
        # "report" when the agent finished; otherwise the framework's referral says why it stopped.
        "outcome": outcome.answer.outcome,
        "summary": outcome.answer.rationale,
        "findings": findings,
        "counts": dict(sorted(Counter(f["status"] for f in findings).items())),
        "unaddressed_matches": unaddressed,
        "refused_calls": refused,
    }


def _as_recorded(result: ToolResult, store: DocumentStore) -> ToolResult:
    """The result with the finding it names read back from the store (results recorded before
    findings were kept there hold the finding itself)."""
    stored = (result.result or {}).get("stored") if result.ok else None
    if not isinstance(stored, str):
        return result
    return replace(result, result=store.finding(stored))


def _finding(result: ToolResult, gate: GateSnapshot | None) -> dict[str, Any]:
    """One finding: as recorded (below the threshold), or with its gate's decision."""
    if gate is None:
        assert result.result is not None
        return {**_fields(result.result), "status": "recorded", "gated": False}
    # An approved finding ran with the reviewer's edits; a rejected one never ran, nor did one sent
    # back with changes requested (the agent proposes it again, revised: a finding of its own).
    recorded = result.result if result.ok and result.result is not None else gate.recommendation.proposal
    status = gate.status
    if status == "rejected" and gate.decided_by == EXPIRED_BY:
        status = "expired"
    elif status == "approved" and not result.ok:
        status = "approved, not recorded"  # the tool refused the call the reviewer approved
    return {
        **_fields(recorded),
        "status": status,
        "gated": True,
        "gate_id": gate.gate_id,
        "decided_by": gate.decided_by,
        "decided_at": gate.decided_at.isoformat() if gate.decided_at else None,
        "reason": gate.reason,
        "error": result.error or "" if status == "approved, not recorded" else "",
        "proposed_action_by_agent": gate.recommendation.proposal.get("proposed_action", ""),
        "edits": gate.edits,
        "edit_diff": gate.edit_diff,
        "annotations": [
            {"author": a.author, "text": a.text, "at": a.at.isoformat()} for a in gate.annotations
        ],
    }


def _fields(values: dict[str, Any]) -> dict[str, Any]:
    """The finding's details; a gated call never validated by the tool may lack some."""
    rule = RULES.get(str(values.get("rule")))
    index = values.get("index")
    return {
        "section": index if isinstance(index, int) else None,
        "rule": str(values.get("rule", "")),
        "title": rule.title if rule else "",
        "severity": str(values.get("severity", "")),
        "excerpt": str(values.get("excerpt", "")),
        "proposed_action": str(values.get("proposed_action", "")),
        "rationale": str(values.get("rationale", "")),
    }

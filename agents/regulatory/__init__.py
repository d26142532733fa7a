"""The regulatory document review agent: registers its spec, prompt and tools with the framework.

A compliance team uploads a document; the agent reviews it section by section and proposes
findings. High and critical findings wait for a compliance reviewer's approval (with an editable
proposed action) before they are recorded; the final report lists every finding with its decision.
The run carries only the document's id: the text lives in the claim-check store (documents.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.framework.ai_act import AiActClass
from agents.framework.prompts import register_prompts
from agents.framework.registry import AgentSpec, register
from agents.framework.roles import ReviewerRole
from agents.framework.types import AgentInput, AgentRunSpec, ApprovalRule, GatePolicy
from agents.regulatory import presentation, reading, report, tools
from agents.regulatory.documents import StoredDocument
from agents.regulatory.offline import regulatory_policy
from agents.regulatory.reading import turns_for

COMPLIANCE_REVIEWER = "compliance_reviewer"
# Findings of these severities are recorded at once; any other value, "high", "critical" or a
# misspelling the model wrote, waits for a compliance reviewer (the rule fails closed).
UNGATED_SEVERITIES = ["low", "medium"]
# The only results a continued review needs: its findings, for the report.
CARRIED_TOOL = "regulatory.record_finding"

register_prompts(Path(__file__).parent / "prompts")

REGULATORY_AGENT = register(
    AgentSpec(
        name="regulatory",
        title="Regulatory document review",
        prompt_id="regulatory.review",
        model="gpt-4o-mini",
        tools=(tools.read_section, tools.rulebook_search, tools.record_finding),
        gate=None,
        prepare="regulatory.read_document",
        on_complete="regulatory.publish_report",
        outcomes=("report",),
        approvals=[
            ApprovalRule(
                tool="regulatory.record_finding",
                when="severity",
                skip_values=UNGATED_SEVERITIES,
                editable=["proposed_action"],
                subject_field="rule",
            )
        ],
        # No senior compliance role to escalate to: an unanswered finding closes as expired, and
        # the report lists it for follow-up (never as approved).
        approval_gate=GatePolicy(
            kind="compliance_finding",
            role=COMPLIANCE_REVIEWER,
            sla_seconds=2 * 24 * 3600,
            escalations=[],
            expiry_reason=(
                "No compliance decision within the SLA: the finding was not recorded and is listed in "
                "the report as expired, for follow-up."
            ),
        ),
        max_turns=200,
        turns_per_run=8,
        activities=(reading.read_document, report.publish_report),
        offline_policy=regulatory_policy,
        roles=(ReviewerRole("compliance_reviewer", "Compliance reviewer", demo_user="compliance"),),
        rejection_grounds={
            "compliance_finding": (
                "Not supported by the document",
                "Wrong rule cited",
                "Severity overstated",
                "Already addressed",
            )
        },
        ai_act=AiActClass(
            high_risk=False,
            basis="Not in Annex III: it reviews the bank's own documents against rules and assesses no natural person",
        ),
        case_fields=presentation.CASE_FIELDS,
        evidence=presentation.EVIDENCE,
        tool_labels=presentation.TOOL_LABELS,
        passage=presentation.finding_passage,
    )
)


def review_spec(sections: int, **pin: Any) -> AgentRunSpec:
    """The run spec for reviewing a document of `sections` sections: enough turns for all of them.

    `pin` passes on to AgentSpec.pin (model, SLAs, overrides such as turns_per_run).
    """
    pin.setdefault("max_turns", max(REGULATORY_AGENT.max_turns, turns_for(sections)))
    return _pinned(**pin)


def _pinned(**pin: Any) -> AgentRunSpec:
    """The run spec with what a continuation carries bounded: the findings (the report lists
    them), never the text of every section read so far (the tools read it again by index)."""
    pin.setdefault("carried_results", [CARRIED_TOOL])
    return REGULATORY_AGENT.pin(**pin)


def upload_input(*, upload_id: str, filename: str, title: str, uploaded_by: str, **pin: Any) -> AgentInput:
    """The input of a review of an uploaded file, not yet read: the run reads it first (its
    `prepare` step), then reviews it with a turn budget fitted to its sections."""
    case = {"upload_id": upload_id, "filename": filename, "title": title, "uploaded_by": uploaded_by}
    return AgentInput(
        spec=_pinned(**pin),
        subject=f"Regulatory review: {title}",
        case=case,
        submitted_by=uploaded_by,
    )


def review_input(*, document: StoredDocument, title: str, uploaded_by: str, **pin: Any) -> AgentInput:
    """The input of a review of a document already read into the store: its id and shape only,
    never its text."""
    case = {
        "document_id": document.document_id,
        "title": title,
        "sections": document.sections,
        "uploaded_by": uploaded_by,
    }
    return AgentInput(
        spec=review_spec(document.sections, prepare="", **pin),
        subject=f"Regulatory review: {title}",
        case=case,
        submitted_by=uploaded_by,
    )

"""Customer inquiry agent: the customer-service team's CRM lookup and policy search, on its own
worker and task queue; a support representative checks (and may edit) each reply before it is
sent. Retries and the HITL gate come from the platform."""

from __future__ import annotations

from pathlib import Path

from agents.customer_service import tools
from agents.customer_service.offline import inquiry_policy
from agents.framework.ai_act import AiActClass
from agents.framework.demo import DemoCase
from agents.framework.presentation import CaseField, Shown
from agents.framework.prompts import register_prompts
from agents.framework.registry import AgentSpec, register
from agents.framework.roles import ReviewerRole
from agents.framework.types import GatePolicy

SUPPORT_REP = "support_rep"

register_prompts(Path(__file__).parent / "prompts")


def demo_cases() -> list[DemoCase]:
    return [
        DemoCase(
            "card-fees-2001",
            "Inquiry from CUST-2001: card fees",
            {"customer_id": "CUST-2001", "topic": "card fees"},
        ),
    ]


INQUIRY_AGENT = register(
    AgentSpec(
        name="customer_service",
        title="Customer inquiries",
        prompt_id="customer_service.inquiry",
        model="gpt-4o-mini",
        tools=(tools.crm_lookup, tools.policy_search),
        gate=GatePolicy(
            kind="inquiry_reply",
            role=SUPPORT_REP,
            sla_seconds=2 * 3600,
            expiry_reason="No representative checked the reply within the SLA; nothing was sent.",
        ),
        outcomes=("reply", "refer"),
        verdicts={"reply": "approve"},
        editable=("reply",),
        on_approve="customer_service.send_reply",
        on_reject="customer_service.hold_reply",
        activities=(tools.send_reply, tools.hold_reply),
        offline_policy=inquiry_policy,
        roles=(ReviewerRole(SUPPORT_REP, "Support representative", demo_user="support"),),
        rejection_grounds={"inquiry_reply": ("Wrong policy", "Needs a personal answer", "Tone")},
        ai_act=AiActClass(
            high_risk=False, basis="Not in Annex III: answers to customers' questions, checked by staff"
        ),
        demo_cases=demo_cases,
        case_fields=(
            CaseField("customer_id", "Customer", column=True, searchable=True),
            CaseField("topic", "Topic", column=True, searchable=True),
        ),
        evidence={"found": Shown("Policy found"), "segment": Shown("Segment")},
        tool_labels={"customer_service.crm_lookup": "Customer record (CRM)"},
    )
)

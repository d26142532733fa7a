"""The financial advice agent: drafts recommendations a licensed adviser must sign off.

Holdings, spending, risk profile and product catalogue are fetched together; the adviser may
edit the recommendations before approving, and exactly the approved text is delivered.
"""

from __future__ import annotations

from pathlib import Path

from agents.advice import tools
from agents.advice.intake import ADVICE_INTAKE, CASE_FIELDS, EVIDENCE, demo_cases
from agents.advice.offline import advice_policy
from agents.framework.ai_act import AiActClass
from agents.framework.prompts import register_prompts
from agents.framework.registry import AgentSpec, register
from agents.framework.roles import ReviewerRole
from agents.framework.types import GatePolicy

LICENSED_ADVISER = "licensed_adviser"

register_prompts(Path(__file__).parent / "prompts")

ADVICE_AGENT = register(
    AgentSpec(
        name="advice",
        title="Financial advice",
        prompt_id="advice.recommend",
        model="gpt-4o-mini",
        tools=(tools.holdings, tools.spending, tools.risk_profile, tools.product_catalogue),
        gate=GatePolicy(
            kind="advice_signoff",
            role=LICENSED_ADVISER,
            sla_seconds=8 * 3600,
            expiry_reason="No adviser sign-off within the SLA; no advice was delivered.",
        ),
        outcomes=("advise", "no_action", "refer"),
        editable=("recommendations",),
        on_approve="advice.deliver_advice",
        on_reject="advice.record_withheld",
        activities=(tools.deliver_advice, tools.record_withheld),
        after_review=tools.approved_advice,
        offline_policy=advice_policy,
        roles=(ReviewerRole("licensed_adviser", "Licensed adviser", demo_user="adviser"),),
        rejection_grounds={
            "advice_signoff": (
                "Unsuitable for the customer",
                "Disclosures missing or wrong",
                "Insufficient evidence",
            )
        },
        ai_act=AiActClass(
            high_risk=False,
            basis="Not in Annex III: investment advice is neither credit scoring (5(b)) nor life or health insurance pricing (5(c))",
        ),
        intake=ADVICE_INTAKE,
        demo_cases=demo_cases,
        case_fields=CASE_FIELDS,
        evidence=EVIDENCE,
    )
)

"""FinOps cost analysis: cost lookup, budget check and forecast run concurrently in one durable
run and come out as one summary; a forecast over budget asks a budget approver for an increase."""

from __future__ import annotations

from pathlib import Path

from agents.finops import tools
from agents.finops.demo import demo_cases
from agents.finops.offline import INCREASE, finops_policy
from agents.framework.ai_act import AiActClass
from agents.framework.presentation import CaseField, Shown
from agents.framework.prompts import register_prompts
from agents.framework.registry import AgentSpec, register
from agents.framework.roles import ReviewerRole
from agents.framework.types import ApprovalRule, GatePolicy

BUDGET_APPROVER = "budget_approver"

register_prompts(Path(__file__).parent / "prompts")

FINOPS_AGENT = register(
    AgentSpec(
        name="finops",
        title="FinOps cost analysis",
        prompt_id="finops.costs",
        model="gpt-4o-mini",
        tools=(tools.cost_lookup, tools.budget_check, tools.forecast, tools.request_budget_increase),
        gate=None,
        on_complete="finops.publish_summary",
        outcomes=("within_budget", "over_budget", "refer"),
        approvals=[ApprovalRule(tool=INCREASE, editable=["amount"], subject_field="team")],
        approval_gate=GatePolicy(
            kind="budget_increase",
            role=BUDGET_APPROVER,
            sla_seconds=8 * 3600,
            escalations=[],
            expiry_reason="No budget decision within the SLA: the budget stays as it is.",
        ),
        activities=(tools.publish_summary,),
        offline_policy=finops_policy,
        roles=(ReviewerRole(BUDGET_APPROVER, "Budget approver", demo_user="budget"),),
        rejection_grounds={
            "budget_increase": (
                "Cut the spend instead",
                "Forecast not credible",
                "Needs the cost owner's sign-off",
            )
        },
        ai_act=AiActClass(
            high_risk=False,
            basis="Not in Annex III: internal cloud cost analysis, no decision about natural persons",
        ),
        demo_cases=demo_cases,
        case_fields=(
            CaseField("team", "Team", column=True, searchable=True),
            CaseField("month", "Month", column=True),
            CaseField("budget", "Budget", "currency", amount=True),
        ),
        evidence={
            "spend_to_date": Shown("Spend to date", "currency"),
            "budget": Shown("Budget", "currency"),
            "remaining": Shown("Remaining", "currency"),
            "forecast_month_end": Shown("Forecast at month end", "currency"),
            "raised_by": Shown("Raised by", "currency"),
            "days": Shown("Days so far", "integer"),
        },
    )
)

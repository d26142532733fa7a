"""Future credit analysis: a borrower's history is prepared into features once, then three
inferences run, each its own checkpointed activity (income trajectory, default probabilities at
12/24/36 months, a stress scenario); a risky outlook asks a credit analyst to put the borrower on
the watchlist, and the outlook is published either way."""

from __future__ import annotations

from pathlib import Path

from agents.credit_outlook import tools
from agents.credit_outlook.demo import demo_cases
from agents.credit_outlook.features import PREPARE, prepare_features
from agents.credit_outlook.offline import outlook_policy
from agents.credit_outlook.presentation import CASE_FIELDS, EVIDENCE, outlook_flags
from agents.framework.ai_act import AiActClass
from agents.framework.prompts import register_prompts
from agents.framework.registry import AgentSpec, register
from agents.framework.roles import ReviewerRole
from agents.framework.types import ApprovalRule, GatePolicy

CREDIT_ANALYST = "credit_analyst"
WATCHLIST_GATE = "credit_watchlist"

register_prompts(Path(__file__).parent / "prompts")

CREDIT_OUTLOOK_AGENT = register(
    AgentSpec(
        name="credit_outlook",
        title="Future credit analysis",
        prompt_id="credit_outlook.assess",
        model="gpt-4o-mini",
        prepare=PREPARE,
        tools=(
            tools.income_trajectory,
            tools.default_probability,
            tools.stress_scenario,
            tools.place_on_watchlist,
        ),
        gate=None,
        on_complete=tools.PUBLISH,
        activities=(prepare_features, tools.publish_outlook),
        offline_policy=outlook_policy,
        # Three inferences, the watchlist call and the answer, with room for one more try.
        max_turns=7,
        outcomes=("stable", "deteriorating", "refer"),
        approvals=[ApprovalRule(tool=tools.WATCHLIST, subject_field="headline")],
        approval_gate=GatePolicy(
            kind=WATCHLIST_GATE,
            role=CREDIT_ANALYST,
            sla_seconds=24 * 3600,
            expiry_reason="No analyst decision within the SLA: the borrower stays under normal monitoring.",
        ),
        # The gate is on the watchlist call: an analyst who approves it agrees with the AI.
        verdicts={tools.WATCHLIST: "approve"},
        roles=(ReviewerRole(CREDIT_ANALYST, "Credit analyst", demo_user="analyst"),),
        rejection_grounds={
            WATCHLIST_GATE: (
                "Outlook not credible",
                "Income data out of date",
                "Risk mitigated by security or a guarantee",
                "Already under review",
            )
        },
        ai_act=AiActClass(
            high_risk=True,
            basis="Annex III 5(b): evaluates the creditworthiness of natural persons (credit scoring)",
        ),
        demo_cases=demo_cases,
        case_fields=CASE_FIELDS,
        evidence=EVIDENCE,
        flags=outlook_flags,
    )
)

"""The loan pre-screening agent: registers its spec, prompts and tools with the framework."""

from __future__ import annotations

from pathlib import Path

from agents.framework.ai_act import AiActClass
from agents.framework.prompts import register_prompts
from agents.framework.registry import AgentSpec, register
from agents.framework.roles import ReviewerRole
from agents.framework.types import ADMIN_ROLE, EscalationStep, GatePolicy, OpeningCall
from agents.loans import tools
from agents.loans.demo import demo_cases
from agents.loans.intake import LOAN_INTAKE
from agents.loans.offline import loan_policy
from agents.loans.presentation import CASE_FIELDS, EVIDENCE, loan_flags

CREDIT_OFFICER = "credit_officer"
SENIOR_CREDIT_OFFICER = "senior_credit_officer"

register_prompts(Path(__file__).parent / "prompts")

LOAN_AGENT = register(
    AgentSpec(
        name="loans",
        title="Loan application pre-screening",
        prompt_id="loans.prescreen",
        model="gpt-4o-mini",
        tools=(tools.credit_bureau, tools.affordability, tools.lending_policy_check),
        # Every application needs its credit file, affordability and the policy check: made before
        # the model's first turn, so the model starts from all three (two model calls fewer a
        # run) and the policy check is run by code, not at the model's choice. The check reads the
        # first two's results, so it follows them in a second turn of the framework's; should one
        # of them fail, the check is the model's to make, and the gate flags it if it was not.
        opening_calls=(
            OpeningCall(
                "loans.credit_bureau", {"applicant_name": "applicant_name", "declared_score": "credit_score"}
            ),
            OpeningCall(
                "loans.affordability",
                {
                    "amount": "amount",
                    "term_months": "term_months",
                    "annual_income": "annual_income",
                    "monthly_debts": "monthly_debts",
                },
            ),
            OpeningCall(
                "loans.lending_policy_check",
                {"amount": "amount"},
                results={
                    "bureau_score": "loans.credit_bureau.bureau_score",
                    "defaults": "loans.credit_bureau.defaults",
                    "debt_to_income": "loans.affordability.debt_to_income",
                },
            ),
        ),
        gate=GatePolicy(
            kind="loan_decision",
            role=CREDIT_OFFICER,
            sla_seconds=4 * 3600,
            escalations=[EscalationStep(role=SENIOR_CREDIT_OFFICER, sla_seconds=4 * 3600)],
            expiry_reason="No credit decision within the SLA after escalation to a senior credit officer.",
            supervisors=[SENIOR_CREDIT_OFFICER, ADMIN_ROLE],
            bulk=True,
            claim_required=True,
        ),
        on_approve="loans.issue_offer",
        on_reject="loans.send_decline_notice",
        activities=(tools.issue_offer, tools.send_decline_notice),
        offline_policy=loan_policy,
        roles=(
            ReviewerRole(
                "credit_officer",
                "Credit officer",
                supervisors=("senior_credit_officer",),
                demo_user="officer",
            ),
            ReviewerRole("senior_credit_officer", "Senior credit officer", demo_user="senior"),
        ),
        rejection_grounds={
            "loan_decision": (
                "Policy breach",
                "Insufficient evidence",
                "Outside risk appetite",
                "Duplicate application",
            )
        },
        ai_act=AiActClass(
            high_risk=True,
            basis="Annex III 5(b): creditworthiness assessment / credit scoring of natural persons",
        ),
        intake=LOAN_INTAKE,
        demo_cases=demo_cases,
        case_fields=CASE_FIELDS,
        evidence=EVIDENCE,
        flags=loan_flags,
    )
)

"""Fraud detection: each card transaction is checked, enriched into features, scored by a
scikit-learn model (or a remote scorer) and run through the fraud rules, each step an Activity;
a transaction the rules refer waits for a fraud analyst, who approves a block or releases it."""

from __future__ import annotations

from pathlib import Path

from agents.framework.ai_act import AiActClass
from agents.framework.contract import APPROVE
from agents.framework.prompts import register_prompts
from agents.framework.registry import AgentSpec, register
from agents.framework.roles import ReviewerRole
from agents.framework.types import ADMIN_ROLE, ApprovalRule, GatePolicy
from agents.fraud import tools
from agents.fraud.demo import demo_cases
from agents.fraud.offline import fraud_policy
from agents.fraud.presentation import CASE_FIELDS, EVIDENCE, fraud_flags
from agents.fraud.rules import BLOCK

FRAUD_ANALYST = "fraud_analyst"
FRAUD_REVIEW = "fraud_review"

register_prompts(Path(__file__).parent / "prompts")

FRAUD_AGENT = register(
    AgentSpec(
        name="fraud",
        title="Fraud detection",
        prompt_id="fraud.screen",
        model="gpt-4o-mini",
        tools=(tools.features, tools.score, tools.rules, tools.block_transaction),
        gate=None,
        prepare="fraud.check_transaction",
        on_complete="fraud.settle",
        outcomes=("legitimate", "fraud", "refer"),
        max_turns=8,
        approvals=[ApprovalRule(tool=BLOCK, subject_field="transaction_id")],
        approval_gate=GatePolicy(
            kind=FRAUD_REVIEW,
            role=FRAUD_ANALYST,
            sla_seconds=2 * 3600,
            escalations=[],
            # Never released by default: an undecided transaction stays held for an administrator.
            final_outcome="hold",
            expiry_reason="No fraud analyst decided within the SLA: the transaction stays held for an administrator.",
            supervisors=[ADMIN_ROLE],
            priority="high",
        ),
        activities=(tools.check_transaction, tools.settle),
        offline_policy=fraud_policy,
        roles=(ReviewerRole(FRAUD_ANALYST, "Fraud analyst", demo_user="fraud"),),
        rejection_grounds={
            FRAUD_REVIEW: (
                "Customer confirmed the transaction",
                "Known merchant for this customer",
                "Score driven by a data error",
            )
        },
        # The agent proposes a block; an analyst who approves it agrees, one who releases overrides.
        verdicts={BLOCK: APPROVE},
        ai_act=AiActClass(
            high_risk=False,
            basis="Not high-risk: Annex III 5(b) excepts AI systems used to detect financial fraud",
        ),
        demo_cases=demo_cases,
        case_fields=CASE_FIELDS,
        evidence=EVIDENCE,
        tool_labels={
            "fraud.features": "Transaction features",
            "fraud.score": "Fraud score",
            "fraud.rules": "Fraud rules",
        },
        flags=fraud_flags,
    )
)

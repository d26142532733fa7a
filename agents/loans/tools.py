"""The loan team's tools: deterministic local stand-ins for the bureau, calculator and policy.

Each is an Activity registered under a `loans.` name; the bureau derives a stable credit file
from the applicant's name so demos and tests see the same evidence every time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from temporalio import activity

from agents.framework.tools import tool
from agents.framework.types import GateSnapshot

ANNUAL_RATE = 0.079
MAX_DTI = 0.45
REFER_DTI = 0.36
MIN_SCORE = 580
REFER_SCORE = 660
REFER_AMOUNT = 50_000


@dataclass
class CreditBureauArgs:
    applicant_name: str
    declared_score: int


@dataclass
class AffordabilityArgs:
    amount: float
    term_months: int
    annual_income: float
    monthly_debts: float


@dataclass
class PolicyCheckArgs:
    bureau_score: int
    debt_to_income: float
    amount: float
    defaults: int


@tool("loans.credit_bureau", "Fetch the applicant's credit file: score, defaults, utilisation.")
async def credit_bureau(args: CreditBureauArgs) -> dict[str, Any]:
    seed = hashlib.sha256(args.applicant_name.strip().lower().encode()).digest()
    score = max(300, min(850, args.declared_score + (seed[0] % 41) - 20))
    return {
        "bureau_score": score,
        "defaults": 1 if score < 560 and seed[1] % 2 else 0,
        "open_accounts": 1 + seed[2] % 7,
        "credit_utilisation": round((seed[3] % 90) / 100, 2),
        "file_age_years": 1 + seed[4] % 25,
    }


# The calculator and the policy check are pure arithmetic: local activities (no round trip).
@tool("loans.affordability", "Compute the monthly payment and debt-to-income ratio of the loan.", local=True)
async def affordability(args: AffordabilityArgs) -> dict[str, Any]:
    if args.term_months <= 0 or args.annual_income <= 0:
        raise ValueError("term and income must be positive")
    rate = ANNUAL_RATE / 12
    payment = args.amount * rate / (1 - (1 + rate) ** -args.term_months)
    monthly_income = args.annual_income / 12
    return {
        "annual_rate": ANNUAL_RATE,
        "monthly_payment": round(payment, 2),
        "debt_to_income": round((args.monthly_debts + payment) / monthly_income, 3),
    }


@tool(
    "loans.lending_policy_check", "Check the lending policy: hard breaches and referral triggers.", local=True
)
async def lending_policy_check(args: PolicyCheckArgs) -> dict[str, Any]:
    breaches, referrals = [], []
    if args.bureau_score < MIN_SCORE:
        breaches.append(f"credit score {args.bureau_score} below minimum {MIN_SCORE}")
    elif args.bureau_score < REFER_SCORE:
        referrals.append(f"credit score {args.bureau_score} in the referral band")
    if args.debt_to_income > MAX_DTI:
        breaches.append(f"debt-to-income {args.debt_to_income:.0%} above {MAX_DTI:.0%}")
    elif args.debt_to_income > REFER_DTI:
        referrals.append(f"debt-to-income {args.debt_to_income:.0%} above {REFER_DTI:.0%}")
    if args.defaults:
        breaches.append(f"{args.defaults} default(s) on file")
    if args.amount > REFER_AMOUNT:
        referrals.append(f"amount above {REFER_AMOUNT:,} needs a referral")
    return {"passed": not breaches, "breaches": breaches, "referrals": referrals}


@activity.defn(name="loans.issue_offer")
async def issue_offer(gate: GateSnapshot) -> dict[str, Any]:
    """Downstream action after a credit officer's approval: issue the loan offer."""
    case = gate.case
    return {
        "action": "offer issued",
        "offer_id": f"OFR-{gate.workflow_id[-8:].upper()}",
        "amount": case["amount"],
        "term_months": case["term_months"],
        "annual_rate": ANNUAL_RATE,
        "approved_by": gate.decided_by,
    }


@activity.defn(name="loans.send_decline_notice")
async def send_decline_notice(gate: GateSnapshot) -> dict[str, Any]:
    """Downstream action after a rejection: send the applicant a decline notice."""
    return {
        "action": "decline notice sent",
        "notice_id": f"DCL-{gate.workflow_id[-8:].upper()}",
        "reason": gate.reason,
        "rejected_by": gate.decided_by,
    }

"""The fraud rules, as pure functions: when a transaction goes to a fraud analyst, and what
becomes of it once the run ends. Code decides both, from the tools' results, never the model."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from agents.framework.types import AgentOutcome, GateSnapshot

# A score at or above this sends the transaction to a fraud analyst.
REVIEW_THRESHOLD = 0.5
# The synthetic set holds no larger amounts: above this the model extrapolates.
MODEL_MAX_AMOUNT = 50_000.0
RISKY_ON_NEW_CARDS = ("gift_cards", "crypto")
NEW_CARD_DAYS = 7
BURST_24H = 30

FEATURES = "fraud.features"
SCORE = "fraud.score"
RULES = "fraud.rules"
BLOCK = "fraud.block_transaction"


@dataclass
class RuleArgs:
    amount: float
    score: float
    merchant_category: str
    card_age_days: int
    transactions_24h: int


def rule_findings(args: RuleArgs) -> dict[str, Any]:
    """Whether an analyst must see the transaction, and every reason why."""
    reasons = []
    if not (math.isfinite(args.score) and 0.0 <= args.score <= 1.0):
        reasons.append(f"the fraud score {args.score} is not a probability")
    elif args.score >= REVIEW_THRESHOLD:
        reasons.append(
            f"fraud score {args.score:.0%} at or above the review threshold {REVIEW_THRESHOLD:.0%}"
        )
    if args.amount > MODEL_MAX_AMOUNT:
        reasons.append(f"amount above {MODEL_MAX_AMOUNT:,.0f}, beyond what the model learnt from")
    if args.merchant_category in RISKY_ON_NEW_CARDS and args.card_age_days < NEW_CARD_DAYS:
        reasons.append(f"{args.merchant_category.replace('_', ' ')} on a card under {NEW_CARD_DAYS} days old")
    if args.transactions_24h > BURST_24H:
        reasons.append(f"{args.transactions_24h} transactions in 24 h, above {BURST_24H}")
    return {"refer": bool(reasons), "reasons": reasons, "threshold": REVIEW_THRESHOLD}


def disposition(outcome: AgentOutcome) -> dict[str, Any]:
    """What happens to the transaction: blocked or released by an analyst, cleared, or held.

    It fails closed: a transaction is cleared only when it was scored, the score and the rules
    say no analyst is needed, and the agent found it legitimate. A transaction that needed an
    analyst but never reached one (the model was unavailable, or skipped the step) stays held.
    """
    results = {r.name: r.result for r in outcome.results if r.ok and r.result is not None}
    score, rules = results.get(SCORE), results.get(RULES)
    review = _block_gate(outcome.gates)
    base = {
        "transaction_id": outcome.case.get("transaction_id"),
        "score": score.get("score") if score else None,
        "model_version": score.get("model_version") if score else None,
        "agent_outcome": outcome.answer.outcome,
    }
    if review is not None and review.status in ("approved", "rejected"):
        blocked = review.status == "approved"
        return {
            **base,
            "disposition": "blocked" if blocked else "released",
            "decided_by": review.decided_by,
            "reason": review.reason,
        }
    needs_analyst = (
        score is None
        or rules is None
        or bool(rules.get("refer"))
        or not isinstance(score.get("score"), int | float)
        or score["score"] >= REVIEW_THRESHOLD
    )
    if needs_analyst or outcome.answer.outcome != "legitimate":
        reason = "It needs a fraud analyst's review, and none decided it: " + outcome.answer.rationale
        return {**base, "disposition": "held", "decided_by": "", "reason": reason}
    return {**base, "disposition": "cleared", "decided_by": "", "reason": outcome.answer.rationale}


def _block_gate(gates: list[GateSnapshot]) -> GateSnapshot | None:
    return next((g for g in gates if g.tool_call is not None and g.tool_call.name == BLOCK), None)

"""How a transaction and the pipeline's evidence read to a fraud analyst, and the flags raised."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.framework.presentation import CaseField, Shown
from agents.fraud.rules import REVIEW_THRESHOLD, SCORE

CASE_FIELDS = (
    CaseField("transaction_id", "Transaction", searchable=True),
    CaseField("amount", "Amount", "currency", amount=True),
    CaseField("merchant", "Merchant", column=True, searchable=True),
    CaseField("merchant_category", "Merchant category", column=True),
    CaseField("merchant_country", "Merchant country"),
    CaseField("card_country", "Card country"),
    CaseField("hour", "Local hour", "integer"),
    CaseField("card_age_days", "Card age (days)", "integer"),
    CaseField("transactions_24h", "Transactions in the last 24 h", "integer"),
    CaseField("merchant_cleaned", "Merchant name cleaned"),
)

EVIDENCE = {
    "score": Shown("Fraud score", "percent"),
    "model_version": Shown("Model version"),
    "scorer": Shown("Scored by"),
    "drivers": Shown("What drove the score"),
    "threshold": Shown("Review threshold", "percent"),
    "refer": Shown("Refer to an analyst"),
    "reasons": Shown("Reasons"),
    "features": Shown("Model features"),
    "blocked": Shown("Blocked"),
    "block_reference": Shown("Block reference"),
}


def fraud_flags(
    case: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]], made_by: Mapping[str, str]
) -> list[str]:
    flags = []
    if case.get("merchant_cleaned") is True:
        flags.append("The merchant name held invisible or control characters; they were removed.")
    score = results.get(SCORE, {}).get("score")
    if isinstance(score, int | float) and score >= REVIEW_THRESHOLD:
        flags.append(f"Fraud score {score:.0%} is at or above the review threshold {REVIEW_THRESHOLD:.0%}.")
    return flags

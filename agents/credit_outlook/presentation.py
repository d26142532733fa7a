"""How a credit outlook reads to a credit analyst: the case, the inference figures, and the flags
raised before anything else is read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.framework.presentation import CaseField, Shown

CASE_FIELDS = (
    CaseField("borrower", "Borrower", column=True, searchable=True),
    CaseField("exposure", "Exposure", "currency", amount=True),
    CaseField("monthly_payment", "Monthly payment", "currency"),
    CaseField("months_of_history", "History", "months", column=True),
)

EVIDENCE = {
    # The prepared features (the case an analyst sees).
    "income_now": Shown("Monthly income (last 3 months)", "currency"),
    "income_trend": Shown("Income trend per month", "percent"),
    "income_volatility": Shown("Income volatility", "percent"),
    "exposure_trend": Shown("Balance trend per month", "percent"),
    "missed_payments": Shown("Missed or short payments", "integer"),
    "repayment_ratio": Shown("Repaid of instalments due", "percent"),
    "payment_to_income": Shown("Instalment to income", "percent"),
    "exposure_to_income": Shown("Exposure to annual income", "percent"),
    # The inferences.
    "projected_income_12m": Shown("Income in 12 months", "currency"),
    "projected_income_24m": Shown("Income in 24 months", "currency"),
    "projected_income_36m": Shown("Income in 36 months", "currency"),
    "income_change_36m": Shown("Income change over 36 months", "percent"),
    "downside_income_36m": Shown("Income in 36 months, bad case", "currency"),
    "annual_hazard": Shown("Annual default hazard", "percent"),
    "default_probability_12m": Shown("Default probability, 12 months", "percent"),
    "default_probability_24m": Shown("Default probability, 24 months", "percent"),
    "default_probability_36m": Shown("Default probability, 36 months", "percent"),
    "stressed_payment_to_income": Shown("Instalment to income under stress", "percent"),
    "stressed_default_probability_36m": Shown("Default probability under stress, 36 months", "percent"),
    "scenario": Shown("Stress scenario"),
    "review_in_months": Shown("Review in", "months"),
}

# Missed payments from this many on are worth a reviewer's question before the figures.
MISSED_FLAG = 2
# A stressed default probability past even odds.
STRESS_FLAG = 0.5


def outlook_flags(
    case: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]], made_by: Mapping[str, str]
) -> list[str]:
    """From the prepared features (on every gate) and, where a gate has them, the inferences."""
    flags = []
    income, balance = _number(case.get("income_trend")), _number(case.get("exposure_trend"))
    if income is not None and balance is not None and income < 0 < balance:
        flags.append(
            f"Income is falling ({income:.1%} a month) while the balance grows ({balance:.1%} a month)."
        )
    missed = _number(case.get("missed_payments"))
    if missed is not None and missed >= MISSED_FLAG:
        flags.append(f"{missed:.0f} missed or short payments in {case.get('months_of_history')} months.")
    stress = results.get("credit_outlook.stress_scenario", {})
    stressed = _number(stress.get("stressed_default_probability_36m"))
    if stressed is not None and stressed >= STRESS_FLAG:
        flags.append(f"Under stress the borrower more likely defaults than not ({stressed:.0%}).")
    return flags


def _number(value: Any) -> float | None:
    """A figure as a float; None for anything else (gate data is JSON a rule must not trust)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)

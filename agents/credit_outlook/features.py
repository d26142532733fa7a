"""The upstream step: a borrower's case (monthly income, balance and repayment history) checked
and turned into the features every inference reads. It is the run's `prepare` activity, so its
result is checkpointed in history and the history is never processed again, also after a crash.
"""

from __future__ import annotations

import math
import statistics
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.credit_outlook.executions import record_execution
from agents.framework.types import PreparedCase

PREPARE = "credit_outlook.prepare_features"
CASE_REFUSED = "CaseRefused"
HISTORIES = ("income_history", "balance_history", "repayment_history")
MIN_MONTHS, MAX_MONTHS = 6, 60
MAX_NAME = 120
MAX_AMOUNT = 10_000_000.0
# A repayment this short of the instalment counts as missed.
MISSED_BELOW = 0.9
# Income now: the mean of the last few months, so one odd month does not swing it.
RECENT_MONTHS = 3


class CaseRefusal(ValueError):
    """Why a case cannot be assessed, in words for the person who submitted it."""


@activity.defn(name=PREPARE)
async def prepare_features(case: dict[str, Any]) -> PreparedCase:
    """The borrower's features in place of the raw history; a case that cannot be assessed ends
    the run with why (a non-retryable failure: sending it again changes nothing)."""
    record_execution()
    try:
        features = features_of(case)
    except CaseRefusal as refusal:
        raise ApplicationError(str(refusal), type=CASE_REFUSED, non_retryable=True) from None
    return PreparedCase(case=features)


def features_of(case: Mapping[str, Any]) -> dict[str, Any]:
    """What the inferences read, derived once from the case; raises CaseRefusal for a bad case."""
    borrower = _name(case.get("borrower"))
    exposure = _amount(case, "exposure")
    payment = _amount(case, "monthly_payment")
    if payment <= 0:
        raise CaseRefusal("The monthly payment must be more than zero.")
    income, balance, repaid = (_history(case, name) for name in HISTORIES)
    if not len(income) == len(balance) == len(repaid):
        raise CaseRefusal("The income, balance and repayment histories must cover the same months.")
    income_now = statistics.fmean(income[-RECENT_MONTHS:])
    mean_income = statistics.fmean(income)
    return {
        "borrower": borrower,
        "exposure": exposure,
        "monthly_payment": payment,
        "months_of_history": len(income),
        "income_now": round(income_now, 2),
        "income_trend": _relative_slope(income),
        "income_volatility": round(statistics.pstdev(income) / mean_income, 4) if mean_income else 0.0,
        "exposure_trend": _relative_slope(balance),
        "missed_payments": sum(1 for paid in repaid if paid < MISSED_BELOW * payment),
        "repayment_ratio": round(sum(repaid) / (payment * len(repaid)), 4),
        # Capped: no income at all reads as a burden of ten instalments' worth, not a division by zero.
        "payment_to_income": round(min(payment / income_now, 10.0) if income_now else 10.0, 4),
        "exposure_to_income": round(min(exposure / (12 * income_now), 100.0) if income_now else 100.0, 4),
    }


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CaseRefusal("The case names no borrower.")
    name = unicodedata.normalize("NFC", value.strip())
    if len(name) > MAX_NAME:
        raise CaseRefusal(f"The borrower's name is longer than {MAX_NAME} characters.")
    # Control and format characters (bidi overrides, zero-width marks) can make a name read as
    # another one; letters of any script are fine.
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name):
        raise CaseRefusal("The borrower's name contains control or invisible characters.")
    return name


def _amount(case: Mapping[str, Any], key: str) -> float:
    if key not in case:
        raise CaseRefusal(f"The case has no {key.replace('_', ' ')}.")
    return _figure(case[key], key.replace("_", " "))


def _figure(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CaseRefusal(f"The {what} is not a number.")
    if not 0 <= value <= MAX_AMOUNT:
        raise CaseRefusal(f"The {what} must be between 0 and {MAX_AMOUNT:,.0f}.")
    return float(value)


def _history(case: Mapping[str, Any], key: str) -> list[float]:
    what = key.replace("_", " ")
    values = case.get(key)
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise CaseRefusal(f"The case has no {what} (a list of monthly figures).")
    if not MIN_MONTHS <= len(values) <= MAX_MONTHS:
        raise CaseRefusal(f"The {what} must cover {MIN_MONTHS} to {MAX_MONTHS} months.")
    return [_figure(v, f"{what} month {i}") for i, v in enumerate(values, start=1)]


def _relative_slope(values: list[float]) -> float:
    """The least-squares slope per month as a share of the mean (0 for a history of zeros)."""
    mean = statistics.fmean(values)
    if mean == 0:
        return 0.0
    slope = statistics.linear_regression(range(len(values)), values).slope
    return round(slope / mean, 4)

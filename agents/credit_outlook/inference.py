"""The outlook's numbers: pure, deterministic functions of a borrower's features, so every worker,
every retry and every test computes the same figures. Each is one inference activity's work
(agents/credit_outlook/tools.py); none reads the repayment history itself.

A plain logistic hazard stands in for a trained scorecard: an annual default hazard from the
payment burden, missed payments, the income outlook and a growing balance, compounded over each
horizon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HORIZONS = (12, 24, 36)
# An income trend beyond this (per month) is extrapolated no further.
MAX_MONTHLY_TREND = 0.05
# A one-sided 95 % band for the downside income.
DOWNSIDE_Z = 1.65
# The stress scenario: income down a fifth, instalments up a tenth (a rate rise).
STRESS_INCOME_CUT = 0.20
STRESS_PAYMENT_RISE = 0.10
# Scorecard weights of the annual hazard's log-odds.
BASE_LOG_ODDS = -4.0
PAYMENT_BURDEN_WEIGHT = 2.5
MISSED_PAYMENT_WEIGHT = 0.6
INCOME_FALL_WEIGHT = 1.5
BALANCE_GROWTH_WEIGHT = 1.0
LEVERAGE_WEIGHT = 0.5
STRESS_SURCHARGE = 0.8


@dataclass(frozen=True)
class IncomeOutlook:
    projected: dict[int, float]  # by horizon in months
    change_36m: float
    downside_36m: float


def income_outlook(income_now: float, trend: float, volatility: float) -> IncomeOutlook:
    """Monthly income at each horizon from its recent trend, and a bad-case income at 36 months."""
    growth = max(-MAX_MONTHLY_TREND, min(MAX_MONTHLY_TREND, trend))
    projected = {h: round(max(0.0, income_now * (1 + growth) ** h), 2) for h in HORIZONS}
    change = projected[36] / income_now - 1 if income_now > 0 else 0.0
    downside = max(0.0, projected[36] * (1 - DOWNSIDE_Z * volatility))
    return IncomeOutlook(projected, round(change, 4), round(downside, 2))


def annual_hazard(
    *,
    payment_to_income: float,
    missed_payments: int,
    income_change_36m: float,
    exposure_trend: float,
    exposure_to_income: float,
) -> float:
    """The chance of default within a year, from the scorecard's log-odds."""
    log_odds = (
        BASE_LOG_ODDS
        + PAYMENT_BURDEN_WEIGHT * payment_to_income
        + MISSED_PAYMENT_WEIGHT * missed_payments
        + INCOME_FALL_WEIGHT * max(0.0, -income_change_36m)
        + BALANCE_GROWTH_WEIGHT * max(0.0, exposure_trend * 12)
        + LEVERAGE_WEIGHT * exposure_to_income
    )
    return _sigmoid(log_odds)


def default_probabilities(hazard: float) -> dict[int, float]:
    """The chance of default within each horizon, the annual hazard compounded."""
    return {h: round(1 - (1 - hazard) ** (h / 12), 4) for h in HORIZONS}


@dataclass(frozen=True)
class Stress:
    payment_to_income: float
    default_probability_36m: float


def stressed(default_probability_36m: float, payment_to_income: float, volatility: float) -> Stress:
    """The 36-month default probability if income falls and instalments rise at once."""
    burden = payment_to_income * (1 + STRESS_PAYMENT_RISE) / (1 - STRESS_INCOME_CUT)
    hazard = 1 - (1 - min(default_probability_36m, 0.9999)) ** (1 / 3)
    log_odds = (
        _logit(hazard)
        + PAYMENT_BURDEN_WEIGHT * (burden - payment_to_income)
        + STRESS_SURCHARGE
        + DOWNSIDE_Z * volatility
    )
    return Stress(round(burden, 4), round(1 - (1 - _sigmoid(log_odds)) ** 3, 4))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-max(-50.0, min(50.0, x))))


def _logit(p: float) -> float:
    p = max(1e-6, min(1 - 1e-6, p))
    return math.log(p / (1 - p))

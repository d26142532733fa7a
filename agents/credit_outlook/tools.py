"""The credit outlook's activities: three inferences, one after another since each reads the one
before (income trajectory, then default probabilities, then the stress scenario); a watchlist
entry an analyst approves first; and the published outlook. Each inference is its own activity,
so each result is checkpointed the moment it completes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.credit_outlook import inference
from agents.credit_outlook.executions import inference_pause, record_execution
from agents.framework.tools import tool
from agents.framework.types import AgentOutcome

INCOME = "credit_outlook.income_trajectory"
DEFAULT = "credit_outlook.default_probability"
STRESS = "credit_outlook.stress_scenario"
INFERENCES = (INCOME, DEFAULT, STRESS)
WATCHLIST = "credit_outlook.place_on_watchlist"
PUBLISH = "credit_outlook.publish_outlook"
IMPLAUSIBLE = "ImplausibleInput"
REVIEW_IN_MONTHS = 3


@dataclass
class IncomeArgs:
    income_now: float
    income_trend: float
    income_volatility: float


@dataclass
class DefaultArgs:
    payment_to_income: float
    missed_payments: int
    income_change_36m: float
    exposure_trend: float
    exposure_to_income: float


@dataclass
class StressArgs:
    default_probability_36m: float
    payment_to_income: float
    income_volatility: float


@dataclass
class WatchlistArgs:
    headline: str  # the analyst's gate is titled with it
    borrower: str
    exposure: float
    default_probability_36m: float
    stressed_default_probability_36m: float
    rationale: str


@tool(INCOME, "Project the borrower's monthly income 12, 24 and 36 months ahead from its trend.")
async def income_trajectory(args: IncomeArgs) -> dict[str, Any]:
    record_execution()
    _check_within(args.income_now, 0, 10_000_000, "income now")
    _check_within(args.income_trend, -1, 1, "income trend")
    _check_within(args.income_volatility, 0, 10, "income volatility")
    await inference_pause()
    outlook = inference.income_outlook(args.income_now, args.income_trend, args.income_volatility)
    return {
        **{f"projected_income_{h}m": v for h, v in outlook.projected.items()},
        "income_change_36m": outlook.change_36m,
        "downside_income_36m": outlook.downside_36m,
    }


@tool(DEFAULT, "The probability of default within 12, 24 and 36 months, from the scorecard.")
async def default_probability(args: DefaultArgs) -> dict[str, Any]:
    record_execution()
    _check_within(args.payment_to_income, 0, 10, "payment to income")
    _check_within(args.missed_payments, 0, 60, "missed payments")
    _check_within(args.income_change_36m, -1, 10, "income change")
    _check_within(args.exposure_trend, -1, 1, "exposure trend")
    _check_within(args.exposure_to_income, 0, 100, "exposure to income")
    await inference_pause()
    hazard = inference.annual_hazard(
        payment_to_income=args.payment_to_income,
        missed_payments=args.missed_payments,
        income_change_36m=args.income_change_36m,
        exposure_trend=args.exposure_trend,
        exposure_to_income=args.exposure_to_income,
    )
    by_horizon = inference.default_probabilities(hazard)
    return {
        "annual_hazard": round(hazard, 4),
        **{f"default_probability_{h}m": p for h, p in by_horizon.items()},
    }


@tool(STRESS, "The 36-month default probability if income falls a fifth and instalments rise a tenth.")
async def stress_scenario(args: StressArgs) -> dict[str, Any]:
    record_execution()
    _check_within(args.default_probability_36m, 0, 1, "default probability")
    _check_within(args.payment_to_income, 0, 10, "payment to income")
    _check_within(args.income_volatility, 0, 10, "income volatility")
    await inference_pause()
    stress = inference.stressed(args.default_probability_36m, args.payment_to_income, args.income_volatility)
    return {
        "scenario": "income down 20 %, instalments up 10 %",
        "stressed_payment_to_income": stress.payment_to_income,
        "stressed_default_probability_36m": stress.default_probability_36m,
    }


@tool(
    WATCHLIST, "Put the borrower on the credit watchlist for an early review; an analyst approves it first."
)
async def place_on_watchlist(args: WatchlistArgs) -> dict[str, Any]:
    """Runs only once a credit analyst approved it; keyed by the run, so a retry adds nothing."""
    record_execution()
    return {
        "watchlist_id": f"WL-{(activity.info().workflow_id or '')[-8:].upper()}",
        "borrower": args.borrower,
        "review_in_months": REVIEW_IN_MONTHS,
    }


@activity.defn(name=PUBLISH)
async def publish_outlook(outcome: AgentOutcome) -> dict[str, Any]:
    """The outlook as one record: the agent's answer, every inference's figures, any watchlist
    decision. Composed from the run alone, so a second delivery publishes the same."""
    record_execution()
    results = {r.name: r.result for r in outcome.results if r.ok and r.result is not None}
    watch = next((g for g in outcome.gates if g.tool_call and g.tool_call.name == WATCHLIST), None)
    return {
        "summary": "credit outlook",
        "borrower": outcome.case.get("borrower"),
        "exposure": outcome.case.get("exposure"),
        "outcome": outcome.answer.outcome,
        "rationale": outcome.answer.rationale,
        "inferences": {name: results.get(name) for name in INFERENCES},
        "watchlist": (
            {"status": watch.status, "decided_by": watch.decided_by, "reason": watch.reason}
            if watch is not None
            else None
        ),
    }


def _check_within(value: float, low: float, high: float, what: str) -> None:
    """Refuse figures no borrower has (the model wrote the arguments): a non-retryable failure
    the agent reads as missing evidence and refers."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApplicationError(f"The {what} is not a number.", type=IMPLAUSIBLE, non_retryable=True)
    if not low <= value <= high:
        raise ApplicationError(
            f"The {what} ({value:g}) is outside {low:g} to {high:g}.", type=IMPLAUSIBLE, non_retryable=True
        )

"""How the offline model forms an outlook: the three inferences one after another (each reads the
one before), a watchlist entry for an analyst when the outlook is risky, then the answer. Only the
prepared features and the inference results drive it, never text the case supplies."""

from __future__ import annotations

import json
from typing import Any

from agents.credit_outlook.tools import DEFAULT, INCOME, INFERENCES, STRESS, WATCHLIST
from agents.framework.offline_model import submitted_case, tool_results

# A borrower this likely to default within three years, or under stress, needs an analyst's eyes.
RISKY_DEFAULT_36M = 0.15
RISKY_STRESSED_36M = 0.30


def outlook_policy(messages: list[dict[str, Any]]) -> dict[str, Any]:
    features = submitted_case(messages)
    results = tool_results(messages)
    failed = [name for name in INFERENCES if "error" in results.get(name, {})]
    if failed:
        reason = f"An inference could not be made ({', '.join(failed)}): {results[failed[0]]['error']}"
        return _answer("refer", reason, ["missing evidence"])
    if INCOME not in results:
        return _call(
            INCOME,
            income_now=features["income_now"],
            income_trend=features["income_trend"],
            income_volatility=features["income_volatility"],
        )
    if DEFAULT not in results:
        return _call(
            DEFAULT,
            payment_to_income=features["payment_to_income"],
            missed_payments=features["missed_payments"],
            income_change_36m=results[INCOME]["income_change_36m"],
            exposure_trend=features["exposure_trend"],
            exposure_to_income=features["exposure_to_income"],
        )
    if STRESS not in results:
        return _call(
            STRESS,
            default_probability_36m=results[DEFAULT]["default_probability_36m"],
            payment_to_income=features["payment_to_income"],
            income_volatility=features["income_volatility"],
        )
    pd, stress = results[DEFAULT], results[STRESS]
    figures = _figures(results)
    risky = (
        pd["default_probability_36m"] >= RISKY_DEFAULT_36M
        or stress["stressed_default_probability_36m"] >= RISKY_STRESSED_36M
    )
    if not risky:
        return _answer("stable", figures, [])
    if WATCHLIST not in results:
        return _call(
            WATCHLIST,
            headline=f"watchlist at {pd['default_probability_36m'] * 100:.0f} % default risk in 3 years",
            borrower=features["borrower"],
            exposure=features["exposure"],
            default_probability_36m=pd["default_probability_36m"],
            stressed_default_probability_36m=stress["stressed_default_probability_36m"],
            rationale=figures,
        )
    watch = results[WATCHLIST]
    decided = (
        f"An analyst declined the watchlist entry: {watch['error']}"
        if "error" in watch
        else f"The borrower is on the watchlist ({watch['watchlist_id']})."
    )
    return _answer("deteriorating", f"{figures} {decided}", _risk_factors(features, results))


def _figures(results: dict[str, dict[str, Any]]) -> str:
    pd, stress, income = results[DEFAULT], results[STRESS], results[INCOME]
    change = income["income_change_36m"]
    direction = "rise" if change >= 0 else "fall"
    return (
        f"Default probability {pd['default_probability_12m']:.1%} within 12 months, "
        f"{pd['default_probability_24m']:.1%} within 24 and {pd['default_probability_36m']:.1%} within 36; "
        f"{stress['stressed_default_probability_36m']:.1%} under stress. "
        f"Income is projected to {direction} {abs(change):.0%} over 36 months."
    )


def _risk_factors(features: dict[str, Any], results: dict[str, dict[str, Any]]) -> list[str]:
    factors = []
    if features["missed_payments"]:
        factors.append(f"{features['missed_payments']} missed or short payment(s)")
    if results[INCOME]["income_change_36m"] < 0:
        factors.append("falling income")
    if features["exposure_trend"] > 0:
        factors.append("growing balance")
    if features["payment_to_income"] > 0.35:
        factors.append(f"instalments take {features['payment_to_income']:.0%} of income")
    return factors


def _call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


def _answer(outcome: str, rationale: str, risk_factors: list[str]) -> dict[str, Any]:
    return {"content": json.dumps({"outcome": outcome, "rationale": rationale, "risk_factors": risk_factors})}

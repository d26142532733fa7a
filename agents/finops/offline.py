"""How the offline model analyses costs: the three lookups at once, a budget increase when the
forecast passes the budget, then the answer. Only tool results drive it."""

from __future__ import annotations

import json
import math
from typing import Any

from agents.framework.offline_model import submitted_case, tool_results

LOOKUPS = ("finops.cost_lookup", "finops.budget_check", "finops.forecast")
INCREASE = "finops.request_budget_increase"


def finops_policy(messages: list[dict[str, Any]]) -> dict[str, Any]:
    case = submitted_case(messages)
    results = tool_results(messages)
    if not all(name in results for name in LOOKUPS):
        team_month = {"team": case["team"], "month": case["month"]}
        return {
            "tool_calls": [
                {"name": "finops.cost_lookup", "arguments": team_month},
                {"name": "finops.budget_check", "arguments": {**team_month, "budget": case["budget"]}},
                {"name": "finops.forecast", "arguments": team_month},
            ]
        }
    forecast = results["finops.forecast"]["forecast_month_end"]
    over = forecast - case["budget"]
    if over > 0 and INCREASE not in results:
        justification = f"The run rate puts month-end spend at {forecast:,.0f} against {case['budget']:,.0f}."
        arguments = {
            "team": case["team"],
            "month": case["month"],
            "amount": math.ceil(over),
            "justification": justification,
        }
        return {"tool_calls": [{"name": INCREASE, "arguments": arguments}]}
    by_service = results["finops.cost_lookup"]["by_service"]
    drivers = sorted(by_service, key=by_service.get, reverse=True)[:2]
    answer = {
        "outcome": "over_budget" if over > 0 else "within_budget",
        "rationale": (
            f"Spend so far is {results['finops.cost_lookup']['spend_to_date']:,.0f}; the month-end forecast is "
            f"{forecast:,.0f} against a budget of {case['budget']:,.0f}."
        ),
        "risk_factors": drivers,
    }
    return {"content": json.dumps(answer)}

"""The FinOps team's tools: cost lookup, budget check and forecast run together in one turn; a
budget increase waits for a budget approver (an ApprovalRule on it); the summary is composed in
code from the tool results once the agent has answered."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from temporalio import activity

from agents.finops.data import DAYS_IN_MONTH, DAYS_SO_FAR, daily_cost
from agents.framework.tools import tool
from agents.framework.types import AgentOutcome


@dataclass
class TeamMonth:
    team: str
    month: str


@dataclass
class BudgetArgs:
    team: str
    month: str
    budget: float


@dataclass
class IncreaseArgs:
    team: str
    month: str
    amount: float
    justification: str


@tool("finops.cost_lookup", "The team's cloud spend this month so far, by service.")
async def cost_lookup(args: TeamMonth) -> dict[str, Any]:
    costs = daily_cost(args.team, args.month)
    by_service = {service: round(sum(days), 2) for service, days in costs.items()}
    return {
        "days": DAYS_SO_FAR,
        "spend_to_date": round(sum(by_service.values()), 2),
        "by_service": by_service,
    }


@tool("finops.budget_check", "The team's budget for the month against its spend so far.")
async def budget_check(args: BudgetArgs) -> dict[str, Any]:
    spent = round(sum(sum(days) for days in daily_cost(args.team, args.month).values()), 2)
    return {"budget": args.budget, "spend_to_date": spent, "remaining": round(args.budget - spent, 2)}


@tool("finops.forecast", "The month's end spend, from the run rate of the last seven days.")
async def forecast(args: TeamMonth) -> dict[str, Any]:
    costs = daily_cost(args.team, args.month)
    spent = sum(sum(days) for days in costs.values())
    recent = sum(sum(days[-7:]) for days in costs.values()) / 7
    return {
        "forecast_month_end": round(spent + recent * (DAYS_IN_MONTH - DAYS_SO_FAR), 2),
        "method": "last 7 days' run rate",
    }


@tool("finops.request_budget_increase", "Ask a budget approver to raise the month's budget.")
async def request_budget_increase(args: IncreaseArgs) -> dict[str, Any]:
    """Runs only once a budget approver approved it (the agent's ApprovalRule)."""
    return {"raised_by": math.ceil(args.amount), "team": args.team, "month": args.month}


@activity.defn(name="finops.publish_summary")
async def publish_summary(outcome: AgentOutcome) -> dict[str, Any]:
    """One summary from the concurrent lookups, the agent's answer and any approver's decision."""
    results = {r.name: r.result for r in outcome.results if r.ok and r.result is not None}
    increase = next(
        (g for g in outcome.gates if g.tool_call and g.tool_call.name.endswith("budget_increase")), None
    )
    return {
        "summary": "finops cost analysis",
        "team": outcome.case["team"],
        "month": outcome.case["month"],
        "outcome": outcome.answer.outcome,
        "rationale": outcome.answer.rationale,
        "spend_to_date": results.get("finops.cost_lookup", {}).get("spend_to_date"),
        "by_service": results.get("finops.cost_lookup", {}).get("by_service", {}),
        "budget": outcome.case["budget"],
        "forecast_month_end": results.get("finops.forecast", {}).get("forecast_month_end"),
        "budget_increase": (
            {"status": increase.status, "decided_by": increase.decided_by, "reason": increase.reason}
            if increase is not None
            else None
        ),
        # What the increase did, not only what was decided: None unless the request ran.
        "budget_raised_by": results.get("finops.request_budget_increase", {}).get("raised_by"),
    }

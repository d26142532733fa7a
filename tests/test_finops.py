"""The FinOps cost analysis agent on the real dev server: the cost lookup, budget check and
forecast run concurrently in one turn, one summary comes out of one run, and a forecast over
budget waits for a budget approver before the increase is requested."""

from __future__ import annotations

from agents.finops import BUDGET_APPROVER, FINOPS_AGENT
from tests.actions import decide
from tests.conftest import (
    activities_scheduled_together,
    agent_input_for,
    record_history,
    start_run,
    wait_for_gate,
)

LOOKUPS = {"finops.cost_lookup", "finops.budget_check", "finops.forecast"}


def start(temporal, queue: str, team: str, budget: int):
    case = {"team": team, "month": "2026-11", "budget": budget}
    agent_input = agent_input_for(
        FINOPS_AGENT, f"Cloud costs: {team}, 2026-11", case, submitted_by="finops-lead"
    )
    return start_run(temporal, queue, agent_input, prefix="finops")


def test_within_budget_the_three_lookups_run_at_once_and_one_summary_comes_out(temporal, worker):
    handle = start(temporal, worker, "payments-platform", 60_000)

    result = temporal.run(handle.result(), timeout=60)

    assert (result.outcome, result.action["outcome"], result.gates) == ("completed", "within_budget", [])
    assert activities_scheduled_together(temporal, handle, LOOKUPS) == LOOKUPS
    summary = result.action
    assert summary["summary"] == "finops cost analysis" and summary["budget_increase"] is None
    assert summary["forecast_month_end"] < 60_000 < summary["forecast_month_end"] * 2
    assert set(summary["by_service"]) == {"compute", "storage", "database", "network"}


def test_over_budget_an_approver_decides_the_increase_before_it_is_requested(temporal, worker):
    handle = start(temporal, worker, "search", 100_000)
    gate = wait_for_gate(temporal, handle)

    assert gate.role == BUDGET_APPROVER and gate.tool_call.name == "finops.request_budget_increase"
    assert gate.tool_call.arguments["amount"] > 0
    decide(
        temporal,
        handle,
        gate.gate_id,
        reason="Seasonal peak, approved.",
        reviewer="budget",
        roles=[BUDGET_APPROVER],
    )
    result = temporal.run(handle.result(), timeout=60)

    assert (result.outcome, result.action["outcome"]) == ("completed", "over_budget")
    assert result.action["budget_increase"] == {
        "status": "approved",
        "decided_by": "budget",
        "reason": "Seasonal peak, approved.",
    }
    record_history(temporal, handle, "finops_over_budget_approved")

"""Two teams for `make dev`: one on track, one whose run rate breaks its budget (an approver gate)."""

from __future__ import annotations

from agents.framework.demo import DemoCase


def demo_cases() -> list[DemoCase]:
    return [
        DemoCase(
            "payments-2026-11", "Cloud costs: payments platform, 2026-11", _case("payments-platform", 60_000)
        ),
        DemoCase("search-2026-11", "Cloud costs: search, 2026-11", _case("search", 100_000)),
    ]


def _case(team: str, budget: int) -> dict[str, object]:
    return {"team": team, "month": "2026-11", "budget": budget}

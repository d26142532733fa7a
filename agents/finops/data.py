"""Synthetic cloud spend per team: daily cost by service for the month so far, made from the team
and month names alone (no randomness, no I/O), so every worker and every test sees the same."""

from __future__ import annotations

import hashlib

SERVICES = ("compute", "storage", "database", "network")
DAYS_SO_FAR = 20
DAYS_IN_MONTH = 30


def daily_cost(team: str, month: str) -> dict[str, list[float]]:
    """Each service's cost on each of the first DAYS_SO_FAR days."""
    costs = {}
    for service in SERVICES:
        seed = hashlib.sha256(f"{team}/{month}/{service}".encode()).digest()
        base = 100 + seed[0] * 4  # 100 to 1,120 a day
        growth = seed[1] / 2550  # up to 10 % a day... of the base, spread over the month
        costs[service] = [round(base * (1 + growth * day), 2) for day in range(DAYS_SO_FAR)]
    return costs

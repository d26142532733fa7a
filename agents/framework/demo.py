"""Demo cases an agent's team ships for `make dev` (seed_demo starts a run of each)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DemoCase:
    key: str  # stable, so seeding again finds the run it started before
    subject: str
    case: dict[str, Any]

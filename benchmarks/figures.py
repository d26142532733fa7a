"""How the benchmarks sum up their samples and say how they were run."""

from __future__ import annotations

import os
import shlex
import statistics
import sys
from collections.abc import Sequence


def percentile(samples: Sequence[float], p: int) -> float:
    """The p-th percentile, interpolated between the closest ranks (one sample: itself; none: nan)."""
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


def p50(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def p95(samples: Sequence[float]) -> float:
    return percentile(samples, 95)


def nearest_rank(values: Sequence[float], share: float) -> float:
    """The value at `share` (0 to 1) of the sorted values, by the nearest rank; none: nan."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else float("nan")


def load_average() -> str:
    """The 1/5/15-minute load averages, as `0.52/0.61/0.70`."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def command_line(*program: str, argv: Sequence[str] | None = None) -> str:
    """The command that produced the figures: `program` and this run's arguments."""
    return shlex.join(["python", *program, *(sys.argv[1:] if argv is None else argv)])

"""The figures benchmarks/gate_throughput.py prints: a row per kind and N, then the ratios, ending
with `ratio ours/bare  <N>  <median ratio>` (users' scripts read those last rows)."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from benchmarks.figures import command_line, p95

if TYPE_CHECKING:
    from benchmarks.gate_throughput import Options, Round


def label(kind: str, workers: int) -> str:
    return {
        "bare": "bare, 1 worker",
        "steps": "same steps, 1 worker",
        "ours": f"ours, {workers} worker(s)",
        "ours1": "ours, 1 worker",
    }[kind]


def report(rounds: list[Round], options: Options, server: str) -> str:
    lines = [
        f"Gate throughput: loan runs (offline model) vs a one-activity bare workflow, N started at once, "
        f"{options.repeat} repetitions; Temporal {server}",
        f"workflow sandbox: ours {options.sandbox}, bare and same steps {options.baseline_sandbox}",
        "",
        f"{'kind':24}{'N':>6}{'gates/s':>10}{'p95 s':>8}{'errors':>8}{'sticky':>8}{'events':>8}",
    ]
    kinds = list(dict.fromkeys(r.kind for r in rounds))
    for n in options.ns:
        for kind in kinds:
            mine = [r for r in rounds if r.n == n and r.kind == kind]
            rate = statistics.median(r.rate for r in mine)
            gate95 = statistics.median(p95(r.to_gate) for r in mine)
            events = [e for r in mine for e in r.events]
            cells = [
                f"{n}",
                f"{rate:.1f}",
                f"{gate95:.1f}",
                f"{sum(r.errors for r in mine)}",
                f"{sum(r.sticky_timeouts for r in mine)}",
                f"{statistics.median(events):.0f}" if events else "-",
            ]
            lines.append(
                f"{label(kind, options.workers):24}"
                + "".join(f"{c:>{w}}" for c, w in zip(cells, (6, 10, 8, 8, 8, 8), strict=True))
            )
    lines.append("")

    def ratios(kind: str, n: int, baseline: str = "bare") -> float:
        by_rep = zip(
            [r for r in rounds if r.n == n and r.kind == kind],
            [r for r in rounds if r.n == n and r.kind == baseline],
            strict=True,
        )
        return statistics.median(ours.rate / base.rate for ours, base in by_rep if base.rate)

    if "ours1" in kinds:
        for n in options.ns:
            lines.append(f"ratio ours(1 worker)/bare  {n}  {ratios('ours1', n):.2f}")
        lines.append("")
    for n in options.ns:  # what the framework costs over Temporal doing the same steps
        lines.append(f"ratio ours/same steps  {n}  {ratios('ours', n, 'steps'):.2f}")
        lines.append(f"ratio same steps/bare  {n}  {ratios('steps', n):.2f}")
    lines.append("")
    lines.append(f"command: {command_line('benchmarks/gate_throughput.py')}")
    lines += [f"ratio ours/bare  {n}  {ratios('ours', n):.2f}" for n in options.ns]
    return "\n".join(lines)

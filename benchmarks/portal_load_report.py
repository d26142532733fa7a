"""The table benchmarks/portal_load.py prints: a row per processes, handler/client, kind and
reviewers, each with its requests/s as a ratio to the same handler and kind at the first count of
processes and reviewers, then the command line."""

from __future__ import annotations

import os

from benchmarks.figures import command_line, load_average


def report(
    rows: list[tuple[int, str, str, int, dict[str, float]]], gates: int, load_before: str, backend: str
) -> str:
    load_after = load_average()
    first = rows[0]
    baseline = {
        (handler, kind): cell["rps"]
        for count, handler, kind, n, cell in rows
        if count == first[0] and n == first[3]
    }
    lines = [
        f"Portal under a team: inbox at {gates:,} pending gates, serve_portal --processes N, {backend}, DEBUG off.",
        f"Load average (1/5/15 min) before and after: {load_before} and {load_after} on {os.cpu_count()} CPUs",
        "",
        f"{'processes':>9} {'handler/client':14} {'kind':14} {'reviewers':>9} {'n':>6} {'req/s':>8} {'p50 ms':>8}"
        f" {'p95 ms':>8} {'CPU ms/req':>10} {'client CPU ms':>13} {'req/s ratio':>11}",
    ]
    for count, handler, kind, n, cell in rows:
        lines.append(
            f"{count:>9} {handler:14} {kind:14} {n:>9} {cell['n']:>6.0f} {cell['rps']:>8.1f} {cell['p50']:>8.1f}"
            f" {cell['p95']:>8.1f} {cell['cpu_ms']:>10.2f} {cell['client_cpu_ms']:>13.2f}"
            f" {cell['rps'] / baseline[handler, kind]:>11.2f}"
        )
    lines += ["", f"command: {command_line('benchmarks/portal_load.py')}"]
    return "\n".join(lines)

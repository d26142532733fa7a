"""Agent overhead: end-to-end time per agent with the offline model, against a minimal workflow
doing the same number of activities, in the same run.

    python benchmarks/agent_overhead.py [--temporal HOST:PORT] [--n 10] [--warmup 2]

Every agent the packages of AGENT_PACKAGES (settings; default: all of them) register, imported
one package at a time as the worker imports them (a package that does not import is skipped with
its error), that declares `demo_cases` runs its first demo case through the real AgentWorkflow
with the offline model, whatever OPENAI_API_KEY says, on one worker. End to end: from
`start_workflow` to the run's first gate (the portal's publish activity called) or its end,
whichever comes first; a run left at a gate is terminated once idle.

The run's history says how many activities it scheduled up to that point, and which were
scheduled together by one workflow task. The baseline workflow below then runs as many no-op
activities, workflow and activities on a worker of their own in the same process, timed the same
way (its last activity is the same publish stand-in when the agent's run stopped at a gate):

- sequential: one activity after the other;
- turns: in the agent's steps, the activities of a step concurrently.

The runs alternate (agent, sequential, turns, then the other way round), so a noisy machine
slows them alike; warm-up runs are dropped. It prints per agent the activities and steps of its
run, p50/p95 of each kind and the ratio of p50s, agent over baseline; then a summary line with
the ratios' medians. Figures only: it never fails on them.

It needs only a Temporal server: if nothing listens at `--temporal`, it starts the dev server
from this virtualenv's `temporal` on a free port. No database: the portal's activities are
stand-ins under their names (parallel_tools.py's publish stand-ins; notices are dropped), and
payloads go unencrypted (codec_cost.py measures the codec).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

if TYPE_CHECKING:  # the framework is imported where used: run as a script, the repo is on the path late
    from temporalio.client import Client

    from agents.framework.registry import AgentSpec
    from benchmarks.agent_runs import Shape

KINDS = ("agent", "sequential", "turns")
NOOP_ACTIVITY = "bench.noop"
NOOP_START_TO_CLOSE = timedelta(seconds=10)
NOOP_RETRY = RetryPolicy(maximum_attempts=1)  # a no-op that fails is a broken benchmark


# --- the baseline ------------------------------------------------------------------------------


@dataclass
class BaselineInput:
    steps: list[int]  # activities per step; a step's run concurrently
    gate_activity: str  # the last activity, when the agent's run stopped at a gate; else ""
    gate_local: bool = False  # the gate's a local activity after the steps, as the agent's is


@workflow.defn(name="AgentOverheadBaseline")
class BaselineWorkflow:
    """The least a run of the same shape can cost: no-op activities, no model, no state."""

    @workflow.run
    async def run(self, input: BaselineInput) -> int:
        for number, size in enumerate(input.steps, start=1):
            names = [NOOP_ACTIVITY] * size
            if number == len(input.steps) and input.gate_activity and not input.gate_local:
                names[-1] = input.gate_activity
            await asyncio.gather(*(self._execute(name) for name in names))
        if input.gate_local:
            await workflow.execute_local_activity(
                input.gate_activity, {}, start_to_close_timeout=NOOP_START_TO_CLOSE, retry_policy=NOOP_RETRY
            )
        return sum(input.steps)

    async def _execute(self, name: str) -> None:
        await workflow.execute_activity(
            name, {}, start_to_close_timeout=NOOP_START_TO_CLOSE, retry_policy=NOOP_RETRY
        )


@activity.defn(name=NOOP_ACTIVITY)
async def noop(payload: dict[str, Any]) -> bool:
    return True


# --- the measurement ---------------------------------------------------------------------------


@dataclass
class Figures:
    """One agent's end-to-end seconds by kind (agent, sequential, turns), after warm-up."""

    agent: str
    seconds: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    shapes: set[Shape] = field(default_factory=set)


async def measure_agent(
    client: Client, queues: tuple[str, str], spec: AgentSpec, n: int, warmup: int
) -> Figures:
    """`queues`: the agent's worker's and the baseline's."""
    from benchmarks.agent_runs import agent_run, timed_run

    agent_queue, baseline_queue = queues
    figures = Figures(spec.name)
    shape: Shape | None = None
    for step in range(warmup + n):
        for kind in KINDS if step % 2 == 0 else KINDS[::-1]:  # step 0 runs the agent first
            if kind == "agent":
                seconds, shape = await agent_run(client, agent_queue, spec)
                if step >= warmup:
                    figures.shapes.add(shape)
            else:
                assert shape is not None
                steps = [1] * shape.activities if kind == "sequential" else list(shape.steps)
                baseline = BaselineInput(steps, shape.gate_activity, shape.gate_local)
                seconds, _ = await timed_run(
                    client, BaselineWorkflow.run, baseline, task_queue=baseline_queue
                )
            if step >= warmup:
                figures.seconds[kind].append(seconds)
    return figures


async def measure(
    address: str, specs: list[AgentSpec], n: int, warmup: int
) -> tuple[list[Figures], list[str]]:
    from temporalio.client import Client
    from temporalio.worker import Worker

    from benchmarks.agent_runs import portal_stand_ins, served

    client = await Client.connect(address)
    baseline_queue = f"bench-overhead-baseline-{uuid.uuid4().hex[:10]}"
    # Its own worker, as the agents' serves AgentWorkflow only; the same stand-in ends its runs.
    baseline_worker = Worker(
        client,
        task_queue=baseline_queue,
        workflows=[BaselineWorkflow],
        activities=[noop, *portal_stand_ins()],
    )
    results: list[Figures] = []
    skipped: list[str] = []
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="bench-activity") as executor:
        async with baseline_worker:
            async for spec, agent_queue in served(client, specs, executor, skipped):
                print(f"{spec.name}: {warmup + n} runs of it and of each baseline...", file=sys.stderr)
                try:
                    results.append(
                        await measure_agent(client, (agent_queue, baseline_queue), spec, n, warmup)
                    )
                except Exception as err:  # one agent's broken run must not stop the others'
                    skipped.append(f"{spec.name}: skipped: {type(err).__name__}: {err}")
    return results, skipped


# --- report ------------------------------------------------------------------------------------


COLUMNS = ("acts", "steps", "agent p50", "p95", "seq. p50", "p95", "ratio", "turns p50", "p95", "ratio")


def span(values: set[int]) -> str:
    return f"{min(values)}" if len(values) == 1 else f"{min(values)}-{max(values)}"


def row(figures: Figures) -> tuple[str, float, float, float]:
    """The agent's line, its p50 ratios (agent over sequential, over turns) and its p50 over the
    turn-shaped baseline's per step."""
    from benchmarks.figures import percentile

    def ms(kind: str) -> tuple[float, float]:
        seconds = figures.seconds[kind]
        return statistics.median(seconds) * 1000, percentile(seconds, 95) * 1000

    (agent, agent95), (seq, seq95), (turns, turns95) = ms("agent"), ms("sequential"), ms("turns")
    steps = {len(s.steps) for s in figures.shapes}
    cells = [span({s.activities for s in figures.shapes}), span(steps)]
    cells += [f"{v:.1f}" for v in (agent, agent95, seq, seq95)] + [f"{agent / seq:.2f}"]
    cells += [f"{v:.1f}" for v in (turns, turns95)] + [f"{agent / turns:.2f}"]
    line = f"{figures.agent:20}" + "".join(f"{cell:>10}" for cell in cells)
    return line, agent / seq, agent / turns, (agent - turns) / max(max(steps), 1)


def report(results: list[Figures], skipped: list[str], n: int, warmup: int, server: str) -> str:
    from benchmarks.figures import command_line

    rows = [row(figures) for figures in results]
    lines = [
        "Agent overhead: each agent's first demo case, offline model, start_workflow to first gate "
        f"or end, in ms; n={n} of each after {warmup} warm-up; Temporal {server}",
        "",
        f"{'agent':20}" + "".join(f"{column:>10}" for column in COLUMNS),
        *(line for line, *_ in rows),
        *skipped,
        "",
    ]
    if rows:
        seq, turns, per_step = ([r[i] for r in rows] for i in (1, 2, 3))
        lines.append(
            f"summary: {len(rows)} agents measured, {len(skipped)} skipped; p50 ratio agent/sequential "
            f"median {statistics.median(seq):.2f} ({min(seq):.2f}-{max(seq):.2f}), agent/turns median "
            f"{statistics.median(turns):.2f} ({min(turns):.2f}-{max(turns):.2f}); agent p50 minus turns "
            f"p50 per step: median {statistics.median(per_step):.1f} ms"
        )
    else:
        lines.append(f"summary: no agent measured, {len(skipped)} skipped")
    lines.append(f"command: {command_line('benchmarks/agent_overhead.py')}")
    return "\n".join(lines)


def keep_outputs_in(folder: Path) -> None:
    """Agents that write files as they complete write them here, not into var/ (market's briefs)."""
    market = sys.modules.get("agents.market.tools")
    if market is not None:
        os.environ[market.BRIEFS_DIR_ENV] = str(folder / "market-briefs")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--temporal", default="127.0.0.1:7233", help="Temporal frontend host:port")
    parser.add_argument("--n", type=int, default=10, help="runs of each agent and baseline (after warm-up)")
    parser.add_argument("--warmup", type=int, default=2, help="runs of each to take first and drop")
    args = parser.parse_args(argv)
    if args.n < 2 or args.warmup < 0:
        parser.error("--n must be at least 2 and --warmup at least 0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewer_portal.settings")
    from django.conf import settings  # read only: no app set-up, no database

    from benchmarks.agent_runs import load_agents
    from benchmarks.processes import BenchmarkError, temporal_server

    specs, skipped = load_agents(settings.AGENT_PACKAGES)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-agent-overhead-") as scratch:
            keep_outputs_in(Path(scratch))
            with temporal_server(args.temporal, Path(scratch) / "temporal.log") as (address, started):
                results, failed = asyncio.run(measure(address, specs, args.n, args.warmup))
    except BenchmarkError as err:
        print(f"benchmark failed: {err}", file=sys.stderr)
        return 1
    server = f"{address} ({'dev server started by the benchmark' if started else 'existing server'})"
    print(report(results, skipped + failed, args.n, args.warmup, server))
    return 0


if __name__ == "__main__":
    # Run as a script: put the repository on the path and use this module by its package name.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.agent_overhead import main as bench_main

    sys.exit(bench_main())

"""Parallel tool dispatch: one turn of five 200 ms tools, all at once, against one tool per turn.

    python benchmarks/parallel_tools.py [--temporal 127.0.0.1:7233] [--n 20] [--warmup 2] [--tool-ms 200]

Runs the real framework (the shared AgentWorkflow, the LLM activity with the offline model, tool
activities) with two small benchmark agents sharing five tools that each sleep 200 ms:

- parallel: its offline policy asks for all five tools in one turn, then answers "approve";
- sequential: its policy asks for one tool per turn, as a sequential agent loop would.

Each run is terminated once it reaches its gate. From each run's history it takes the tool phase
(first tool ActivityTaskScheduled to last tool ActivityTaskCompleted), the slowest single tool
(ActivityTaskStarted, when the server hands it to the worker, to ActivityTaskCompleted; so its
200 ms plus a few ms of dispatch and completion) and the model-to-model gap (the LLM activity
that asked for the first tool completed, to the one given the last result scheduled). It prints
n, median and p95 of each, and parallel turn / slowest tool per run (target: p95 at most 1.25).
The runs alternate between the agents; warm-up runs are dropped. Figures only: it never fails on
them.

It needs only a Temporal server: if nothing listens at `--temporal`, it starts the dev server
from this virtualenv's `temporal` on a free port. No database: the gate's `publish_gate` activity
is a stand-in that only notes the run has reached its gate.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio import activity

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.figures import command_line, percentile
from benchmarks.parallel_tools_agents import TOOL_COUNT, TOOL_PREFIX, register_agents
from benchmarks.processes import BenchmarkError, temporal_server

if TYPE_CHECKING:  # the framework is imported where used: run as a script, the repo is on the path late
    from temporalio.api.history.v1 import History
    from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse
    from temporalio.client import Client

    from agents.framework.registry import AgentSpec

TARGET_RATIO = 1.25
RUN_TIMEOUT = 60.0


# By workflow id: set when the run reaches its gate (agent_overhead.py waits on it too).
gates_reached: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)


async def gate_reached(snapshot: dict[str, Any]) -> bool:
    """Stands in for the portal's projection (`publish_gate`): notes the run reached its gate."""
    gates_reached[activity.info().workflow_id].set()
    return True


async def gate_change_reached(publication: dict[str, Any]) -> bool:
    """The same for `publish_gate_change`, which runs publish since gate patches (a whole gate
    the first time, then patches): True tells the workflow the change was applied."""
    gates_reached[activity.info().workflow_id].set()
    return True


async def gate_change_reached_locally(publication: dict[str, Any]) -> dict[str, Any]:
    """The same for `publish_gate_change_local` (run as a local activity since local publish),
    answered as the portal's is."""
    gates_reached[activity.info().workflow_id].set()
    return {"in_sync": True, "publication": publication}


# --- one run and its timings -----------------------------------------------------------------


@dataclass
class Timings:
    """One run's figures in seconds, from its history's event times."""

    tool_phase: float
    slowest_tool: float
    model_gap: float


async def run_once(client: Client, task_queue: str, spec: AgentSpec, tool_ms: int) -> Timings:
    from agents.framework.types import AgentInput
    from agents.framework.workflow import AgentWorkflow

    workflow_id = f"bench-tools-{spec.name.rpartition('.')[2]}-{uuid.uuid4().hex[:10]}"
    agent_input = AgentInput(
        spec=spec.pin(), subject="parallel tools benchmark", case={"tool_ms": tool_ms}, submitted_by="bench"
    )
    handle = await client.start_workflow(
        AgentWorkflow.run, agent_input, id=workflow_id, task_queue=task_queue
    )
    try:
        async with asyncio.timeout(RUN_TIMEOUT):
            await gates_reached[workflow_id].wait()
            # Terminate only once the run idles at its gate, so no task of its is cut short.
            while busy((await handle.describe()).raw_description):
                await asyncio.sleep(0.01)
    except TimeoutError as err:
        raise BenchmarkError(f"Run {workflow_id} did not reach its gate within {RUN_TIMEOUT:.0f} s") from err
    finally:
        del gates_reached[workflow_id]
        await handle.terminate(reason="parallel tools benchmark: gate reached")
    return timings(await handle.fetch_history(), workflow_id)


def busy(description: DescribeWorkflowExecutionResponse) -> bool:
    """Whether the run has an activity or a workflow task in flight."""
    return bool(description.pending_activities) or description.HasField("pending_workflow_task")


def timings(history: History, workflow_id: str) -> Timings:
    from agents.framework.contract import LLM_ACTIVITY

    scheduled: dict[int, tuple[str, datetime]] = {}
    started: dict[int, datetime] = {}
    completed: dict[int, datetime] = {}
    for event in history.events:
        at = event.event_time.ToDatetime()
        if event.HasField("activity_task_scheduled_event_attributes"):
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = (name, at)
        elif event.HasField("activity_task_started_event_attributes"):
            started[event.activity_task_started_event_attributes.scheduled_event_id] = at
        elif event.HasField("activity_task_completed_event_attributes"):
            completed[event.activity_task_completed_event_attributes.scheduled_event_id] = at
    tools = [i for i, (name, _) in scheduled.items() if name.startswith(TOOL_PREFIX)]
    models = sorted(i for i, (name, _) in scheduled.items() if name == LLM_ACTIVITY)
    if len(tools) != TOOL_COUNT or any(i not in completed for i in tools) or len(models) < 2:
        raise BenchmarkError(f"Run {workflow_id} did not complete {TOOL_COUNT} tools and two model turns")
    first_tool = min(scheduled[i][1] for i in tools)
    last_tool = max(completed[i] for i in tools)
    asked = max(i for i in models if i < min(tools))  # the model turn that asked for the first tool
    given = min(i for i in models if i > max(tools))  # the model turn given the last result
    return Timings(
        tool_phase=(last_tool - first_tool).total_seconds(),
        slowest_tool=max((completed[i] - started[i]).total_seconds() for i in tools),
        model_gap=(scheduled[given][1] - completed[asked]).total_seconds(),
    )


# --- the measurement -------------------------------------------------------------------------


@dataclass
class Samples:
    parallel: list[Timings] = field(default_factory=list)
    sequential: list[Timings] = field(default_factory=list)


async def measure(address: str, prompt_folder: Path, n: int, warmup: int, tool_ms: int) -> Samples:
    from temporalio.client import Client

    from agents.framework.contract import PUBLISH_ACTIVITY, PUBLISH_CHANGE_ACTIVITY, PUBLISH_LOCAL_ACTIVITY
    from agents.framework.llm import LlmSettings
    from agents.framework.worker import build_worker

    parallel, sequential = register_agents(prompt_folder)
    client = await Client.connect(address)
    task_queue = f"bench-tools-{uuid.uuid4().hex[:10]}"
    samples = Samples()
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="bench-activity") as executor:
        worker = build_worker(
            client,
            task_queue=task_queue,
            agents=[parallel],  # the sequential agent shares its tools; a worker lists each once
            llm=LlmSettings(),  # the offline model
            portal_activities=[
                activity.defn(name=PUBLISH_ACTIVITY)(gate_reached),
                activity.defn(name=PUBLISH_CHANGE_ACTIVITY)(gate_change_reached),
                activity.defn(name=PUBLISH_LOCAL_ACTIVITY)(gate_change_reached_locally),
            ],
            executor=executor,
            keyring=None,  # the framework alone: no portal signs its starts
        )
        async with worker:
            for step in range(warmup + n):
                order = [parallel, sequential] if step % 2 == 0 else [sequential, parallel]
                for spec in order:
                    sample = await run_once(client, task_queue, spec, tool_ms)
                    if step >= warmup:
                        (samples.parallel if spec is parallel else samples.sequential).append(sample)
    return samples


# --- report ----------------------------------------------------------------------------------


def report(samples: Samples, warmup: int, tool_ms: int, address: str, started_server: bool) -> str:
    """The figures as a small table, with the command that produced them."""

    def row(label: str, seconds: list[float]) -> str:
        median, p95 = statistics.median(seconds) * 1000, percentile(seconds, 95) * 1000
        return f"{label:46} {len(seconds):>4} {median:>9.1f} {p95:>9.1f}"

    parallel, sequential = samples.parallel, samples.sequential
    ratios = [s.tool_phase / s.slowest_tool for s in parallel]
    median_ratio, p95_ratio = statistics.median(ratios), percentile(ratios, 95)
    verdict = "met" if p95_ratio <= TARGET_RATIO else "NOT met"
    server = "dev server started by the benchmark" if started_server else "existing server"
    command = command_line("benchmarks/parallel_tools.py")
    return "\n".join(
        [
            f"Parallel tool dispatch: {TOOL_COUNT} tools of {tool_ms} ms each, offline model; "
            f"Temporal {address} ({server}); warm-up runs of each agent excluded: {warmup}",
            "",
            f"{'':46} {'n':>4} {'median ms':>9} {'p95 ms':>9}",
            row("parallel turn (first tool sched. -> last done)", [s.tool_phase for s in parallel]),
            row("sequential tool phase (one tool per turn)", [s.tool_phase for s in sequential]),
            row("slowest single tool (started -> completed)", [s.slowest_tool for s in parallel]),
            row("parallel model-to-model gap", [s.model_gap for s in parallel]),
            row("sequential model-to-model gap", [s.model_gap for s in sequential]),
            f"{'ratio parallel turn / slowest tool (per run)':46} {len(ratios):>4} "
            f"{median_ratio:>9.2f} {p95_ratio:>9.2f}   target <= {TARGET_RATIO}: {verdict}",
            "",
            f"command: {command}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--temporal", default="127.0.0.1:7233", help="Temporal frontend host:port")
    parser.add_argument("--n", type=int, default=20, help="runs of each agent (after warm-up)")
    parser.add_argument("--warmup", type=int, default=2, help="runs of each agent to take first and drop")
    parser.add_argument("--tool-ms", type=int, default=200, help="how long each tool sleeps")
    args = parser.parse_args(argv)
    if args.n < 2 or args.warmup < 0 or args.tool_ms < 1:
        parser.error("--n must be at least 2, --warmup at least 0 and --tool-ms at least 1")

    try:
        with tempfile.TemporaryDirectory(prefix="bench-parallel-tools-") as scratch:
            folder = Path(scratch)
            with temporal_server(args.temporal, folder / "temporal.log") as (address, started_server):
                print(f"Running {args.warmup + args.n} runs of each agent on {address}...", file=sys.stderr)
                samples = asyncio.run(measure(address, folder, args.n, args.warmup, args.tool_ms))
        print(report(samples, args.warmup, args.tool_ms, address, started_server))
    except BenchmarkError as err:
        print(f"benchmark failed: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

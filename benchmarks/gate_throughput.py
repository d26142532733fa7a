"""Throughput to the gate: N loan runs started at once, until every one has reached its gate,
against a bare workflow with one no-op activity, in the same run.

    python benchmarks/gate_throughput.py [--temporal HOST:PORT] [--n 100 300 1000] [--repeat 3]
                                         [--workers 1] [--history-sample 50]
                                         [--sandbox shared] [--baseline-sandbox strict]

ours: the real AgentWorkflow running the loan agent's first demo case with the offline model
(its tools, the LLM activity) on a worker built by `build_worker`; a run has reached its gate
when the portal's publish activity is called for it (a stand-in that notes the time; notices are
dropped). bare: a minimal workflow whose one no-op activity is the same kind of stand-in, on a
bare worker (with the same workflow-task settings as build_worker gives ours, where it sets any).
same steps: a workflow that takes a loan run's steps to its gate with nothing in them (a no-op
"bureau" beside a local no-op, as the opening calls run, then a local no-op as the policy check
of the framework's second turn, one no-op "model" activity, the stand-in, a durable wait), on a
bare worker: what Temporal alone costs a run of that shape, so that
ours/same steps is what the framework adds. `--sandbox` is how ours' worker sandboxes its
workflow modules (agents/framework/sandbox.py; default `shared`, production's), and
`--baseline-sandbox` the same for the bare and same-steps workers (default `strict`, the SDK's
own default, so the baselines are Temporal as it comes). Each worker is a process of its own (`--workers 2`
runs ours on two, to show scale-out; the baselines always run on one, and with `--workers 2` ours
also runs on one in the same run). This process only starts the runs, N at once, and reads the
gate times the workers note.

Per round and kind: gates/s = N / (first start call to last gate), time to gate p95 (each run's
start call to its gate), errors (failed start calls, runs that reached no gate within
`--timeout`, and, in the histories of a sample of runs, failed or timed-out activities and
workflow tasks, and activity retries), sticky workflow-task timeouts (schedule-to-start: the run
moved to the normal queue; recovered, counted apart), and history events per run. Kinds
alternate within each repetition (bare first, then the other way round), after a warm-up round.

Before the command line it prints, per N, `ratio ours/same steps` and `ratio same steps/bare`. It
ends with one row per N, the median over repetitions of ours/bare gates/s (ours on `--workers`
processes): `ratio ours/bare  <N>  <median ratio>`. Figures only: it never fails on them.

It needs only a Temporal server: if nothing listens at `--temporal`, it starts the dev server
from this virtualenv's `temporal` on a free port (in-memory SQLite). No database; payloads go
unencrypted (codec_cost.py measures the codec).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cases import loan_application, loan_run_input
from benchmarks.figures import p95
from benchmarks.gate_throughput_report import label, report
from benchmarks.gate_throughput_workers import GateLog
from benchmarks.processes import BenchmarkError, temporal_server
from benchmarks.run_histories import check_histories, explain

if TYPE_CHECKING:  # the framework is imported where used
    from temporalio.client import Client

START_CONCURRENCY = 1000  # start calls in flight at once: all of them, up to N = 1000


# --- one round ----------------------------------------------------------------------------------


@dataclass
class Round:
    kind: str
    n: int
    seconds: float = 0.0
    to_gate: list[float] = field(default_factory=list)
    errors: int = 0
    sticky_timeouts: int = 0
    kinds: dict[str, int] = field(default_factory=dict)  # errors by kind
    events: list[int] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.to_gate) / self.seconds if self.seconds else 0.0


async def run_round(
    client: Client, kind: str, queue: str, n: int, log: GateLog, timeout: float, sample: int
) -> Round:
    figures = Round(kind, n)
    ids = [f"gt-{kind}-{uuid.uuid4().hex[:12]}" for _ in range(n)]
    started: dict[str, float] = {}
    limit = asyncio.Semaphore(START_CONCURRENCY)

    async def start(workflow_id: str) -> bool:
        async with limit:
            started[workflow_id] = time.time()
            try:
                if kind == "bare":
                    from benchmarks.gate_throughput_workers import BareWorkflow

                    await client.start_workflow(BareWorkflow.run, {}, id=workflow_id, task_queue=queue)
                elif kind == "steps":
                    from benchmarks.gate_throughput_workers import StepsWorkflow

                    await client.start_workflow(StepsWorkflow.run, {}, id=workflow_id, task_queue=queue)
                else:
                    await client.start_workflow(
                        "AgentWorkflow", loan_input(), id=workflow_id, task_queue=queue
                    )
            except Exception as err:
                print(f"start of {workflow_id} failed: {type(err).__name__}: {err}", file=sys.stderr)
                return False
            return True

    first = time.time()
    ok = await asyncio.gather(*(start(w) for w in ids))
    figures.errors += ok.count(False)
    figures.kinds["failed start"] = ok.count(False)
    waiting = {w for w, good in zip(ids, ok, strict=True) if good}
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        log.read()
        waiting -= log.times.keys()
    figures.errors += len(waiting)
    figures.kinds["no gate"] = len(waiting)
    if waiting:
        await explain(client, sorted(waiting)[0], len(waiting))
    reached = [w for w in ids if w in log.times]
    last = max((log.times[w] for w in reached), default=first)
    figures.seconds = last - first
    figures.to_gate = [log.times[w] - started[w] for w in reached]
    if sample:
        await check_histories(client, reached[:: max(1, len(reached) // sample)][:sample], figures)
    return figures


def loan_input() -> Any:
    """The loan agent's first demo case, with the agent's default pins."""
    from agents.loans import LOAN_AGENT

    return loan_run_input(loan_application(), spec=LOAN_AGENT.pin(), submitted_by="bench")


# --- the measurement ----------------------------------------------------------------------------


@dataclass
class Options:
    ns: list[int]
    repeat: int
    workers: int
    timeout: float
    sample: int
    warmup: int
    sandbox: str = "shared"
    baseline_sandbox: str = "strict"


async def measure(address: str, options: Options, scratch: Path) -> list[Round]:
    from temporalio.client import Client

    from benchmarks.gate_throughput_workers import worker_processes

    client = await Client.connect(address)
    gate_log = scratch / "gates.log"
    gate_log.touch()
    log = GateLog(gate_log)
    tag = uuid.uuid4().hex[:8]
    kinds = {
        "bare": (f"gt-bare-{tag}", 1),
        "steps": (f"gt-steps-{tag}", 1),
        "ours": (f"gt-ours-{tag}", options.workers),
    }
    if options.workers > 1:
        kinds["ours1"] = (f"gt-ours1-{tag}", 1)
    rounds: list[Round] = []
    with (
        worker_processes(address, "bare", kinds["bare"][0], 1, gate_log, options.baseline_sandbox),
        worker_processes(address, "steps", kinds["steps"][0], 1, gate_log, options.baseline_sandbox),
        worker_processes(address, "ours", kinds["ours"][0], options.workers, gate_log, options.sandbox),
        worker_processes(
            address,
            "ours",
            kinds.get("ours1", ("", 0))[0],
            kinds.get("ours1", ("", 0))[1],
            gate_log,
            options.sandbox,
        ),
    ):
        names = list(kinds)
        for kind in names:  # warm-up, dropped
            await run_round(client, kind, kinds[kind][0], options.warmup, log, options.timeout, 0)
        for rep in range(options.repeat):
            for n in options.ns:
                for kind in names if rep % 2 == 0 else names[::-1]:
                    figures = await run_round(
                        client, kind, kinds[kind][0], n, log, options.timeout, options.sample
                    )
                    rounds.append(figures)
                    print(
                        f"rep {rep + 1} N={n} {label(kind, options.workers)}: {figures.rate:.1f} gates/s, "
                        f"p95 {p95(figures.to_gate):.1f} s, errors {figures.errors} "
                        f"{ {k: v for k, v in figures.kinds.items() if v} }, "
                        f"sticky timeouts {figures.sticky_timeouts}",
                        file=sys.stderr,
                    )
                    await asyncio.sleep(1.0)  # let the round's tail (a task per run after its gate) drain
    return rounds


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--temporal", default="127.0.0.1:7233", help="Temporal frontend host:port")
    parser.add_argument("--n", type=int, nargs="+", default=[100, 300, 1000], help="runs started at once")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each N and kind")
    parser.add_argument("--workers", type=int, default=1, help="worker processes serving ours")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a round may take")
    parser.add_argument("--history-sample", type=int, default=50, help="histories checked per round")
    parser.add_argument("--warmup", type=int, default=20, help="runs of each kind first, dropped")
    parser.add_argument(
        "--sandbox",
        choices=["strict", "shared"],
        default="shared",
        help="how ours' worker sandboxes the workflow modules (production's default: shared)",
    )
    parser.add_argument(
        "--baseline-sandbox",
        choices=["strict", "shared"],
        default="strict",
        help="the same for the bare and same-steps workers (the SDK's default: strict)",
    )
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "QUEUE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        from benchmarks.gate_throughput_workers import serve

        asyncio.run(serve(args.temporal, *args.serve, args.sandbox))
        return 0
    if args.repeat < 1 or args.workers < 1 or min(args.n) < 1:
        parser.error("--repeat, --workers and every --n must be at least 1")
    options = Options(
        args.n,
        args.repeat,
        args.workers,
        args.timeout,
        args.history_sample,
        args.warmup,
        args.sandbox,
        args.baseline_sandbox,
    )

    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-gate-throughput-") as scratch,
            temporal_server(args.temporal, Path(scratch) / "temporal.log") as (address, started),
        ):
            rounds = asyncio.run(measure(address, options, Path(scratch)))
    except BenchmarkError as err:
        print(f"benchmark failed: {err}", file=sys.stderr)
        return 1
    server = f"{address} ({'dev server started by the benchmark' if started else 'existing server'})"
    print(report(rounds, options, server))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Start burst: `loan_application_submit` (the loan intake's service call) 100 at once, before and
after the fast start path, while an unrelated portal page is read.

    python benchmarks/start_burst.py [--n 100] [--rounds 3] [--database-url postgres://...]

In one process, acting as the portal: `intake_submit` for the loan agent is called from `--n`
threads released together, and each call is timed. Three paths take turns, round after round, so a
noisy machine slows both alike:

  before  the coroutine run by `async_to_sync`, as the services did: an event loop and a thread
          per call, every start sent at once;
  after   the process's client loop (reviewer_portal.temporal_client): one loop, one Client, at
          most START_CONCURRENCY starts in flight, the rest queued; the submitter waits for the
          start (START_WAIT_SECONDS 15);
  short wait  the same, but the submitter waits only --short-wait seconds (START_WAIT_SECONDS):
          a start not confirmed by then goes on, its submission kept and confirmed by the start
          (reviewer_portal/intake/services.py), counted as "kept".

Each round also starts --n runs at once straight from the process's Client on its loop, with no
portal and no queue, of a workflow type no worker runs ("bare starts"): what the server alone
takes for a burst of starts, the bound under any path that waits for Temporal.

Meanwhile another thread reads the inbox page (Django's test client, logged in) over and over: its
latency during each burst, against the same page read while idle, says whether a burst holds up
the portal's other requests. Prints p50/p95 per path (median over rounds) of the start call (the
Temporal start through the path, queue included) and of the whole service call (with its Submission
row), errors, and the ratios. Last, the CPU this process spends per submission made one at a time
(before the bursts, on the short wait's path): the floor under a burst's whole calls, since one
interpreter makes them all.
Target: start p95 <= 100 ms at 100 concurrent. Figures only: it never fails on them.

It sets up what it needs: a Temporal dev server on a free port (SQLite file, as `make dev` runs
it), a database (SQLite under var/ unless --database-url), and `manage.py run_worker` as a
subprocess on a fresh task queue, so the started runs go on to their gates as they would.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cases import intake_values, small_car_loan
from benchmarks.figures import nearest_rank
from benchmarks.processes import dev_server_command, free_port, stop, wait_for_port
from benchmarks.scratch import recreate_postgresql, throwaway_keys, throwaway_officer
from benchmarks.start_paths import bare_starts, before_path, cpu_per_submission, timed

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 100.0


class Probe:
    """Reads an unrelated page in a loop, keeping each read's latency while `recording`."""

    def __init__(self, user: Any) -> None:
        from django.test import Client

        self.client = Client()
        self.client.force_login(user)
        self.samples: list[float] = []
        self.recording = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        from django.db import connection

        while not self.stopped.is_set():
            began = time.perf_counter()
            response = self.client.get("/")
            took = (time.perf_counter() - began) * 1000
            assert response.status_code == 200, response.status_code
            if self.recording.is_set():
                self.samples.append(took)
            time.sleep(0.01)
        connection.close()

    def take(self) -> list[float]:
        samples, self.samples = self.samples, []
        return samples


def drain(gate_model: Any, *, timeout: float) -> None:
    """Wait until every run started so far has opened its gate (or `timeout` passes)."""
    from reviewer_portal.history.models import Submission

    deadline = time.monotonic() + timeout
    while gate_model.objects.values("workflow_id").distinct().count() < Submission.objects.count():
        if time.monotonic() > deadline:
            print("  (the worker had not caught up with the last burst; going on)", flush=True)
            return
        time.sleep(1)


def burst(n: int, submit: Callable[[str], None]) -> tuple[list[float], int]:
    from django.db import connection

    gate = threading.Barrier(n)
    errors = 0

    def one(_: int) -> float:
        nonlocal errors
        gate.wait()
        began = time.perf_counter()
        try:
            submit(str(uuid.uuid4()))
        except Exception as err:  # counted and shown, never fatal
            errors += 1
            print(f"  error: {type(err).__name__}: {err}", file=sys.stderr)
        finally:
            took = (time.perf_counter() - began) * 1000
            connection.close()
        return took

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n))), errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="submissions started at once")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--short-wait", type=float, default=0.05, help="START_WAIT_SECONDS of the third path, in seconds"
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL database, dropped and created afresh (default: SQLite)",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop what it started on the way out

    if args.database_url:
        recreate_postgresql(args.database_url)
    work = Path(tempfile.mkdtemp(prefix="start-burst-", dir=ROOT / "var"))
    port = free_port()
    temporal = subprocess.Popen(dev_server_command(port, work / "temporal.db"))
    queue = f"start-burst-{uuid.uuid4().hex[:8]}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="reviewer_portal.settings",
        TEMPORAL_ADDRESS=f"127.0.0.1:{port}",
        TEMPORAL_TASK_QUEUE=queue,
        DATABASE_URL=args.database_url or f"sqlite:///{work / 'portal.sqlite3'}",
        CLAIM_CHECK_DIR=str(work / "claims"),
    )
    # Keys of its own, shared with the worker it starts: it never needs `make dev`'s var/keys.
    os.environ.update(throwaway_keys("bench-start-burst"))
    worker = None
    try:
        wait_for_port(port, timeout=60)
        officer = throwaway_officer("burst")  # Django is set up from here on
        from reviewer_portal.inbox.models import Gate
        from reviewer_portal.intake import services
        from reviewer_portal.intake.outcomes import RunQueued
        from reviewer_portal.temporal_client import run_on_client_loop

        worker = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker"], cwd=ROOT, stdout=subprocess.DEVNULL
        )
        from django.conf import settings

        fast_path = services.start_on_client_loop
        loan = intake_values(small_car_loan())
        kept: list[str] = []

        def submit(submission_id: str) -> None:
            try:
                services.intake_submit(
                    agent="loans", values=loan, submitted_by=officer, submission_id=submission_id
                )
            except RunQueued as queued:  # answered at once, started in the background
                kept.append(queued.workflow_id)

        starts: list[float] = []
        paths = {
            "before": timed(before_path, starts),
            "after": timed(fast_path, starts),
            "short wait": timed(fast_path, starts),
        }
        waits = {"before": 15.0, "after": 15.0, "short wait": args.short_wait}
        for name, start_on in paths.items():  # warm-up: connect, import, first queries
            services.start_on_client_loop = start_on  # type: ignore[assignment]
            settings.START_WAIT_SECONDS = waits[name]
            for _ in range(3):
                submit(str(uuid.uuid4()))
        cpu_ms = cpu_per_submission(submit, args.n)  # the short wait's path, set last above
        probe = Probe(officer)
        probe.recording.set()
        time.sleep(3)
        idle = probe.take()
        results: dict[str, list[tuple[float, float, float, float, int]]] = {name: [] for name in paths}
        bare: list[tuple[float, float]] = []
        for round_ in range(args.rounds):
            drain(Gate, timeout=120)
            took = run_on_client_loop(bare_starts(args.n, f"{queue}-unpolled"), timeout=120)
            bare.append((nearest_rank(took, 0.5), nearest_rank(took, 0.95)))
            print(
                f"round {round_ + 1} {'bare':10}  start p50 {bare[-1][0]:7.1f} ms  p95 {bare[-1][1]:7.1f} ms"
            )
            for name in paths if round_ % 2 == 0 else reversed(list(paths)):
                services.start_on_client_loop = paths[name]  # type: ignore[assignment]
                settings.START_WAIT_SECONDS = waits[name]
                drain(Gate, timeout=120)  # each burst meets a quiet server, not the last one's runs
                probe.take()
                starts.clear()
                kept.clear()
                took, errors = burst(args.n, submit)
                page = probe.take()
                row = (
                    nearest_rank(starts, 0.5), nearest_rank(starts, 0.95), nearest_rank(page, 0.5),
                    nearest_rank(page, 0.95), errors, nearest_rank(took, 0.5), nearest_rank(took, 0.95),
                )  # fmt: skip
                results[name].append(row)
                print(f"round {round_ + 1} {name:10}  start p50 {row[0]:7.1f} ms  p95 {row[1]:7.1f} ms  "
                      f"whole submit p50 {row[5]:7.1f} ms  p95 {row[6]:7.1f} ms  errors {errors}  "
                      f"kept {len(kept)}", flush=True)  # fmt: skip
        probe.stopped.set()
        services.start_on_client_loop = fast_path  # type: ignore[assignment]
        report(args.n, args.rounds, idle, results, bare, cpu_ms)
    finally:
        for process in (worker, temporal):
            if process is not None:
                stop(process, 30)
        shutil.rmtree(work, ignore_errors=True)


def report(
    n: int,
    rounds: int,
    idle: list[float],
    results: dict[str, list[tuple[float, ...]]],
    bare: list[tuple[float, float]],
    cpu_ms: float,
) -> None:
    def median(name: str, column: int) -> float:
        return statistics.median(row[column] for row in results[name])

    labels = {
        "before": "before (async_to_sync per call)",
        "after": "after (client loop)",
        "short wait": "short wait (kept, starts on)",
    }
    print(
        f"\nloan_application_submit, {n} at once, median over {rounds} rounds (target: start p95 <= {TARGET_P95_MS:.0f} ms)"
    )
    for name, label in labels.items():
        errors = sum(int(row[4]) for row in results[name])
        print(
            f"  {label:32} start p50 {median(name, 0):7.1f} ms  p95 {median(name, 1):7.1f} ms  errors {errors}"
        )
        print(f"  {'':32} whole submit p50 {median(name, 5):7.1f} ms  p95 {median(name, 6):7.1f} ms")
    bare_p50, bare_p95 = (statistics.median(row[i] for row in bare) for i in (0, 1))
    print(
        f"  {'bare starts (one Client, no portal)':32} start p50 {bare_p50:7.1f} ms  p95 {bare_p95:7.1f} ms"
    )
    print(
        f"  ratio {'after/bare starts':24}p50 {median('after', 0) / bare_p50:.2f}  p95 {median('after', 1) / bare_p95:.2f}"
    )
    for name in ("after", "short wait"):
        print(
            f"  ratio {name + '/before':24}p50 {median(name, 0) / median('before', 0):.2f}  p95 {median(name, 1) / median('before', 1):.2f}"
        )
    print(
        f"\nunrelated GET / (inbox) meanwhile; idle: p50 {nearest_rank(idle, 0.5):.1f} ms  p95 {nearest_rank(idle, 0.95):.1f} ms"
    )
    for name in labels:
        print(
            f"  during a {name:10} burst         p50 {median(name, 2):7.1f} ms  p95 {median(name, 3):7.1f} ms"
        )
    print(f"  ratio during/idle at p95       before {median('before', 3) / nearest_rank(idle, 0.95):.1f}  after {median('after', 3) / nearest_rank(idle, 0.95):.1f}")  # fmt: skip
    print(
        f"\none at a time (short wait): {cpu_ms:.2f} ms of this process's CPU per submission; {n} at once"
        f" need at least {n * cpu_ms:.0f} ms of it, however they are scheduled"
    )


if __name__ == "__main__":
    main()

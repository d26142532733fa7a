"""Kept starts: how long the delivery loop takes to start a backlog of kept submissions (what an
outage of Temporal leaves behind), one after another as the loop did before, against
`pending_starts_run` now (the oldest alone, then the rest together through the client loop's
start queue, at most START_CONCURRENCY at a time).

    python benchmarks/kept_starts.py [--n 100] [--rounds 3]

It sets up what it needs: a Temporal dev server on a free port (a SQLite file in write-ahead-log
mode, as `make dev` runs it) and a SQLite database under var/. No worker runs: the runs are
started, none needs to go on. Each round keeps --n submissions as the intake keeps one whose start
Temporal did not confirm (sealed input, recorded first), then drains them one way; then --n more,
drained the other way; the order alternates round by round. It prints the time to drain each
backlog (median over rounds), starts per second and the ratio. Figures only: it never fails on them.
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
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cases import intake_values, small_car_loan
from benchmarks.processes import dev_server_command, free_port, stop, wait_for_port
from benchmarks.scratch import throwaway_keys, throwaway_officer

ROOT = Path(__file__).resolve().parent.parent


def keep(n: int, officer: Any) -> list[str]:
    """Record `n` kept loan submissions of `officer`'s, due for the loop; their workflow ids."""
    from django.utils import timezone

    from agents.framework.registry import AGENTS
    from agents.framework.types import AgentInput
    from reviewer_portal.history.models import Submission
    from reviewer_portal.history.services import submission_record
    from reviewer_portal.intake.kept_inputs import input_to_keep
    from reviewer_portal.intake.services import pinned_spec
    from reviewer_portal.trust.keys import trusted_keys

    request = AGENTS["loans"].intake.to_run(intake_values(small_car_loan()))
    ids = []
    for _ in range(n):
        workflow_id = f"kept-{uuid.uuid4()}"
        agent_input = AgentInput(
            spec=pinned_spec("loans"), subject=request.subject, case=request.case, submitted_by=officer.username,
            submitted_by_id=str(officer.pk), trusted_keys=trusted_keys(),
        )  # fmt: skip
        submission_record(
            workflow_id=workflow_id, agent="loans", subject=request.subject, submitted_by=officer,
            start_input=input_to_keep(agent_input, workflow_id),
        )  # fmt: skip
        ids.append(workflow_id)
    Submission.objects.filter(workflow_id__in=ids).update(submitted_at=timezone.now() - timedelta(minutes=10))
    return ids


def one_after_another() -> list[str]:
    """The loop before: each kept submission started, and confirmed, before the next is sent."""
    from reviewer_portal.history.models import Submission
    from reviewer_portal.history.services import submission_started
    from reviewer_portal.intake.pending_starts import _input_of
    from reviewer_portal.intake.services import run_start
    from reviewer_portal.temporal_client import START_TIMEOUT_SECONDS, run_on_client_loop

    started = []
    due = Submission.objects.filter(started=False, start_error="").select_related("submitted_by")
    for submission in due.order_by("submitted_at")[:100]:
        agent_input = _input_of(submission)
        run_on_client_loop(run_start(submission.workflow_id, agent_input), timeout=START_TIMEOUT_SECONDS)
        submission_started(workflow_id=submission.workflow_id)
        started.append(submission.workflow_id)
    return started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=int, default=100, help="kept submissions per backlog (at most 100: one pass)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop what it started on the way out

    (ROOT / "var").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kept-starts-", dir=ROOT / "var"))
    port = free_port()
    temporal = subprocess.Popen(dev_server_command(port, work / "temporal.db"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="reviewer_portal.settings",
        TEMPORAL_ADDRESS=f"127.0.0.1:{port}",
        TEMPORAL_TASK_QUEUE=f"kept-starts-{uuid.uuid4().hex[:8]}",
        DATABASE_URL=f"sqlite:///{work / 'portal.sqlite3'}",
        CLAIM_CHECK_DIR=str(work / "claims"),
    )
    os.environ.update(throwaway_keys("bench-kept-starts"))
    try:
        wait_for_port(port, timeout=60)
        officer = throwaway_officer("kept")  # Django is set up from here on
        from reviewer_portal.intake.pending_starts import pending_starts_run

        ways: dict[str, Callable[[], list[str]]] = {
            "one after another (before)": one_after_another,
            "pending_starts_run (now)": pending_starts_run,
        }
        for drain in ways.values():  # warm-up: connect, import, first queries
            keep(3, officer)
            drain()
        took: dict[str, list[float]] = {name: [] for name in ways}
        for round_ in range(args.rounds):
            for name in ways if round_ % 2 == 0 else reversed(list(ways)):
                ids = keep(args.n, officer)
                began = time.perf_counter()
                started = ways[name]()
                took[name].append(time.perf_counter() - began)
                assert sorted(started) == sorted(ids), f"{name}: {len(started)} of {len(ids)} started"
                print(f"round {round_ + 1} {name:28} {args.n} started in {took[name][-1]:6.2f} s", flush=True)
        report(args.n, args.rounds, took)
    finally:
        stop(temporal, 30)
        shutil.rmtree(work, ignore_errors=True)


def report(n: int, rounds: int, took: dict[str, list[float]]) -> None:
    print(
        f"\nkept submissions drained by one pass of the delivery loop, {n} a backlog, median over {rounds} rounds"
    )
    print(f"  {'':28} {'seconds':>8} {'starts/s':>9}")
    medians = {name: statistics.median(times) for name, times in took.items()}
    for name, seconds in medians.items():
        print(f"  {name:28} {seconds:8.2f} {n / seconds:9.1f}")
    before, now = medians.values()
    print(f"  ratio now/before (time)      {now / before:8.2f}")


if __name__ == "__main__":
    main()

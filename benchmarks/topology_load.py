"""Production-topology load test (issue 12), run by hand, not in CI: one Temporal dev server, two
worker sidecars, two portal processes (daphne), the delivery loop, PostgreSQL and Redis; applications submitted and
decided through the portal's HTTP interface by simulated reviewers.

    python benchmarks/topology_load.py [--applications 1000] [--reviewers 20]
        [--database-url postgres://postgres@127.0.0.1:5432/rp_topology_load]
        [--redis-url redis://127.0.0.1:6379/6] [--submitters 10] [--timeout 3600]

It creates (dropping any earlier copy) its own PostgreSQL database, migrates it and makes the users:
credit officers who submit, and `--reviewers` credit officers who review (four eyes: never their
own). Then, as a browser would (login form, CSRF cookie and header, htmx posts), `--submitters`
threads post the loan intake form `--applications` times, and each reviewer, on the portal
process it is given (round robin), reads the inbox, opens a gate, claims it and decides it:
approve or reject at random, one in five against the AI's recommendation, so the confirm step is
answered too (inbox/confirmation.py). A claim lost to a colleague, or a gate already taken, sends
the reviewer back to the inbox (counted, not an error).

Prints throughput, p50/p95 per step (submit, gate reached: submit to the gate in the projection,
claim, decide) and errors, then checks every run: exactly one accepted decision in the portal's
database and exactly one accepted `decide` Update in its Temporal history (0 lost, 0 doubled).
Exits 1 if any check fails or any error was counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.figures import nearest_rank
from benchmarks.portal_server import portal_server
from benchmarks.processes import dev_server_command, free_port, stop_all, wait_for_port
from benchmarks.scratch import recreate_postgresql, throwaway_keys
from benchmarks.topology_users import PASSWORD, Stats, reviewer, submitter

ROOT = Path(__file__).resolve().parent.parent


def gate_watch(
    submitted: dict[str, float], reached: dict[str, float], stats: Stats, stop: threading.Event
) -> None:
    """Polls the projection: when each submitted run's gate first shows up."""
    from django.db import connection

    from reviewer_portal.inbox.models import Gate

    while not stop.is_set():
        waiting = [w for w in list(submitted) if w not in reached]
        for workflow_id in Gate.objects.filter(workflow_id__in=waiting).values_list("workflow_id", flat=True):
            reached[workflow_id] = time.time()
            stats.took("gate reached", reached[workflow_id] - submitted[workflow_id])
        time.sleep(0.5)
    connection.close()


async def decide_updates(address: str, workflow_ids: list[str]) -> dict[str, int]:
    """How many `decide` Updates each run's Temporal history accepted."""
    from temporalio.api.enums.v1 import EventType

    from reviewer_portal.temporal_client import connect

    client = await connect()
    limit = asyncio.Semaphore(20)
    counts: dict[str, int] = {}

    async def count(workflow_id: str) -> None:
        async with limit:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        counts[workflow_id] = sum(
            1
            for event in history.events
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
            and event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            == "decide"
        )

    await asyncio.gather(*(count(w) for w in workflow_ids))
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=1000)
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--submitters", type=int, default=10)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/rp_topology_load")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds for every decision")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop what it started on the way out

    database = args.database_url.rsplit("/", 1)[1]
    recreate_postgresql(args.database_url)
    work = Path(tempfile.mkdtemp(prefix="topology-load-", dir=ROOT / "var"))
    temporal_port = free_port()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="reviewer_portal.settings",
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}",
        TEMPORAL_TASK_QUEUE=f"load-{uuid.uuid4().hex[:8]}",
        CLAIM_CHECK_DIR=str(work / "claims"),
        DOCUMENT_STORE_DIR=str(work / "documents"),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        WORKFLOW_SANDBOX="shared",  # production's (DEBUG off); the rest stays development's here
    )
    os.environ.update(throwaway_keys(f"load-{uuid.uuid4().hex[:6]}", dev=False))
    processes: list[subprocess.Popen[bytes]] = []
    portals = ExitStack()  # stopped first on the way out, as they start last

    def spawn(*command: str) -> None:
        processes.append(subprocess.Popen(list(command), cwd=ROOT, stdout=subprocess.DEVNULL))

    try:
        spawn(*dev_server_command(temporal_port, work / "temporal.db"))
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
        import django

        django.setup()
        from django.contrib.auth.models import Group, User

        from reviewer_portal.inbox.models import ActionAttempt, Gate

        officers = Group.objects.get_or_create(name="credit_officer")[0]
        submitters = [f"submitter{i}" for i in range(args.submitters)]
        reviewers = [f"reviewer{i}" for i in range(args.reviewers)]
        for name in submitters + reviewers:
            User.objects.create_user(name, password=PASSWORD).groups.add(officers)
        wait_for_port(temporal_port)
        for _ in range(2):
            spawn(sys.executable, "manage.py", "run_worker")
        # As in production: decisions Temporal did not take in time are sent again from here.
        spawn(sys.executable, "manage.py", "deliver_decisions", "--every", "10")
        bases = [portals.enter_context(portal_server(None)) for _ in range(2)]
        print(f"Topology: Temporal 127.0.0.1:{temporal_port}, 2 workers, portals {', '.join(bases)}, "
              f"PostgreSQL {database}, Redis {args.redis_url}, workflow sandbox shared", flush=True)  # fmt: skip

        stats, submitted, reached = Stats(), {}, {}
        stop, done = threading.Event(), threading.Event()
        began = time.monotonic()
        watcher = threading.Thread(target=gate_watch, args=(submitted, reached, stats, stop), daemon=True)
        watcher.start()
        shares = [
            args.applications // args.submitters + (i < args.applications % args.submitters)
            for i in range(args.submitters)
        ]
        threads = [
            threading.Thread(target=submitter, args=(bases[i % 2], name, shares[i], stats, submitted))
            for i, name in enumerate(submitters)
        ] + [
            threading.Thread(target=reviewer, args=(bases[i % 2], name, stats, done, random.Random(i)), daemon=True)
            for i, name in enumerate(reviewers)
        ]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads[: args.submitters]:
            thread.join()
        submitted_in = time.monotonic() - began
        deadline = time.monotonic() + args.timeout
        while Gate.objects.exclude(status=Gate.Status.PENDING).count() < len(submitted):
            if time.monotonic() > deadline:
                stats.error("timeout", f"not every run was decided within {args.timeout:.0f} s")
                break
            time.sleep(1)
        elapsed = time.monotonic() - began
        done.set()
        stop.set()

        # A decision the run took while its reply was lost is still "undelivered" in the database
        # until the delivery loop sends it again: let the loop settle before counting.
        settle = time.monotonic() + 120
        while (
            ActionAttempt.objects.filter(status__in=ActionAttempt.OPEN).exists() and time.monotonic() < settle
        ):
            time.sleep(2)
        workflow_ids = sorted(submitted)
        accepted = defaultdict(int)
        for workflow_id in ActionAttempt.objects.filter(
            action=ActionAttempt.Action.DECIDE, status=ActionAttempt.Status.ACCEPTED
        ).values_list("gate__workflow_id", flat=True):
            accepted[workflow_id] += 1
        in_history = asyncio.run(decide_updates(os.environ["TEMPORAL_ADDRESS"], workflow_ids))
        report(args, stats, len(submitted), submitted_in, elapsed, workflow_ids, accepted, in_history)
        lost, doubled, _ = verdicts(stats, workflow_ids, accepted, in_history)
        return 1 if lost or doubled or sum(stats.errors.values()) or len(submitted) < args.applications else 0
    finally:
        portals.close()
        stop_all(reversed(processes), timeout=40)
        shutil.rmtree(work, ignore_errors=True)


def report(
    args: Any, stats: Stats, submitted: int, submitted_in: float, elapsed: float,
    workflow_ids: list[str], accepted: dict[str, int], in_history: dict[str, int],
) -> None:  # fmt: skip
    decided = len(stats.times["decide"])
    print(f"\n{submitted} of {args.applications} applications submitted in {submitted_in:.1f} s "
          f"({submitted / submitted_in:.1f}/s); {decided} decided in {elapsed:.1f} s ({decided / elapsed:.1f}/s) "
          f"by {args.reviewers} reviewers on 2 portal processes, 2 workers")  # fmt: skip
    for step in ("submit", "gate reached", "claim", "decide"):
        times = stats.times[step]
        print(f"  {step:13} n {len(times):5}  p50 {nearest_rank(times, 0.5):8.1f} ms  p95 {nearest_rank(times, 0.95):8.1f} ms  errors {stats.errors[step]}")  # fmt: skip
    other = {
        step: n
        for step, n in stats.errors.items()
        if step not in ("submit", "gate reached", "claim", "decide")
    }
    print(f"  other errors {other or 0}; not errors: {dict(stats.retries)}")
    lost, doubled, undecided = verdicts(stats, workflow_ids, accepted, in_history)
    print(
        f"  decisions per run ({len(workflow_ids)} runs): lost {len(lost)}, doubled {len(doubled)}"
        f" (database or Temporal history); never decided (out of time) {len(undecided)}"
    )


def verdicts(
    stats: Stats, workflow_ids: list[str], accepted: dict[str, int], in_history: dict[str, int]
) -> tuple[list[str], list[str], list[str]]:
    """Lost: a decision the portal took, or one in either record, missing from the other (or both).
    Doubled: more than one in either. Undecided: none anywhere, no reviewer got to it in time."""
    taken = set(stats.decided)
    lost, doubled, undecided = [], [], []
    for w in workflow_ids:
        db, history = accepted.get(w, 0), in_history.get(w, 0)
        if db > 1 or history > 1:
            doubled.append(w)
        elif db != history or (w in taken and db == 0):
            lost.append(w)
        elif db == 0:
            undecided.append(w)
    return lost, doubled, undecided


if __name__ == "__main__":
    sys.exit(main())

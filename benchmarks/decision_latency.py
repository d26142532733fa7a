"""Decision latency: a bare Temporal Update round trip against a reviewer's decision in the portal.

    python benchmarks/decision_latency.py [--temporal 127.0.0.1:7233] [--n 50] [--warmup 5]
        [--server daphne|serve_portal] [--parts] [--database-url postgres://...]

Prints p50/p95 of, in the same run:

(a) a bare SDK Update round trip (`execute_update`, with a validator) on a minimal workflow, one
    Update per workflow run, timed around the SDK call;
(b) a portal decision: the HTTP POST to `/gates/<id>/decide/` on a loan gate, as htmx sends it,
    timed until the rendered decision panel has been read;

and the ratio b/a (target: at most 1.3). The samples are interleaved, a then b then b then a, so a
noisy machine slows both alike; warm-up samples are dropped. Untimed between samples: the claim and
the GET of the gate page (for a fresh form and CSRF token), then waiting until the run has done
what the claim started (a decision arriving while a workflow task is pending waits for it, as no
reviewer reading the case would), and after the decision waiting for the loan run to finish, so
its follow-up activities do not overlap the next sample. Figures only: it never fails on them.

Everything it needs it sets up and tears down itself, given only a Temporal server: if nothing
listens at `--temporal`, it starts the dev server from this virtualenv's `temporal` on a free port.
It uses a throwaway SQLite database under var/ (or, with `--database-url`, a throwaway database on
that PostgreSQL server), an in-process worker on a fresh task queue (the
real loan agent with the real projection activity, plus the minimal workflow) and the real portal
served by `daphne` as a subprocess with the same environment (`--server serve_portal`: one uvicorn
process of `manage.py serve_portal`, as production serves it). To see where the portal's time
goes, `--portal-app module:app` serves a wrapper of the portal's ASGI app (on PYTHONPATH) instead;
`--parts` serves benchmarks/decision_parts_app.py and prints, after the table, the median of each
part of (b) as the portal's process timed it, and what the target leaves beside the Update.
"""

from __future__ import annotations

import os
import sys
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.background_loop import BackgroundLoop
from benchmarks.decision_parts import FILE_VARIABLE as PARTS_FILE_VARIABLE
from benchmarks.decision_parts import parts_report, read_parts
from benchmarks.decision_setup import (
    OFFICER,
    PASSWORD,
    setup_django,
    start_loan_gates,
    terminate_unfinished,
    wait_for_run,
    wait_until_quiet,
    workers,
)
from benchmarks.figures import command_line, percentile
from benchmarks.minimal_update import start_minimal_workflows, time_sdk_update
from benchmarks.portal_server import PORTAL_APP, SERVERS, portal_served_by
from benchmarks.processes import BenchmarkError, temporal_server
from benchmarks.reviewer_session import Portal
from benchmarks.scratch import scratch_database, scratch_files

if TYPE_CHECKING:
    from temporalio.client import Client

    from benchmarks.signing_cost import SigningCost

TARGET_RATIO = 1.3
PARTS_APP = "benchmarks.decision_parts_app:application"


@dataclass
class Samples:
    sdk: list[float] = field(default_factory=list)
    portal: list[float] = field(default_factory=list)


def measure(
    bg: BackgroundLoop,
    client: Client,
    portal: Portal,
    gate_ids: list[str],
    minimal_ids: list[str],
    warmup: int,
) -> Samples:
    """Take one (a) and one (b) sample per step, alternating which goes first; drop the warm-up."""
    from reviewer_portal.inbox.models import Gate

    workflow_of = dict(Gate.objects.filter(gate_id__in=gate_ids).values_list("gate_id", "workflow_id"))
    samples = Samples()
    for step, (gate_id, minimal_id) in enumerate(zip(gate_ids, minimal_ids, strict=True)):
        ready = portal.ready_to_decide(gate_id)
        wait_until_quiet(bg, client, workflow_of[gate_id])
        if step % 2 == 0:
            sdk = time_sdk_update(bg, client, minimal_id)
            decision = portal.time_decision(ready)
        else:
            decision = portal.time_decision(ready)
            sdk = time_sdk_update(bg, client, minimal_id)
        wait_for_run(bg, client, workflow_of[gate_id])
        if step >= warmup:
            samples.sdk.append(sdk)
            samples.portal.append(decision)
    return samples


# --- report ---------------------------------------------------------------------------------


def report(
    samples: Samples, warmup: int, temporal: str, started_server: bool, signing: SigningCost, parts: str = ""
) -> str:
    """The figures as a small table, then `parts` (--parts), with the command that produced them."""
    a50, a95 = (percentile(samples.sdk, p) * 1000 for p in (50, 95))
    b50, b95 = (percentile(samples.portal, p) * 1000 for p in (50, 95))
    server = "dev server started by the benchmark" if started_server else "existing server"
    verdict = "met" if b50 / a50 <= TARGET_RATIO and b95 / a95 <= TARGET_RATIO else "NOT met"
    command = command_line("benchmarks/decision_latency.py")
    return "\n".join(
        [
            f"Decision latency: Temporal {temporal} ({server}); {warmup} warm-up samples of each excluded",
            "",
            f"{'':38} {'n':>4} {'p50 ms':>9} {'p95 ms':>9}",
            f"{'(a) SDK Update round trip (minimal)':38} {len(samples.sdk):>4} {a50:>9.2f} {a95:>9.2f}",
            f"{'(b) portal decision (POST decide)':38} {len(samples.portal):>4} {b50:>9.2f} {b95:>9.2f}",
            f"{'ratio b/a':38} {'':>4} {b50 / a50:>9.2f} {b95 / a95:>9.2f}"
            f"   target <= {TARGET_RATIO}: {verdict}",
            "",
            "Of (b): signing the decision in the portal and verifying it in the workflow's validator,",
            "timed apart in this process (benchmarks/signing_cost.py):",
            *signing.lines(),
            *([parts] if parts else []),
            "",
            f"command: {command}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--temporal", default="127.0.0.1:7233", help="Temporal frontend host:port")
    parser.add_argument("--n", type=int, default=50, help="samples of each measurement (after warm-up)")
    parser.add_argument("--warmup", type=int, default=5, help="samples of each to take first and drop")
    parser.add_argument(
        "--portal-app", default=PORTAL_APP, help="ASGI app to serve (a wrapper can time steps)"
    )
    parser.add_argument(
        "--server", choices=SERVERS, default="daphne", help="daphne (make dev's) or uvicorn's"
    )
    parser.add_argument(
        "--parts",
        action="store_true",
        help="serve benchmarks/decision_parts.py and print where (b)'s time goes",
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL server (postgres://...): the portal's database is a throwaway one made on it",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch DB and portal log in var/")
    args = parser.parse_args(argv)
    if args.n < 2 or args.warmup < 0:
        parser.error("--n must be at least 2 and --warmup at least 0")
    if args.parts and args.portal_app != PORTAL_APP:
        parser.error("--parts serves a wrapper of its own: leave --portal-app out")
    count = args.n + args.warmup
    task_queue = f"bench-decision-{uuid.uuid4().hex[:10]}"

    bg = BackgroundLoop()
    try:
        with ExitStack() as stack:
            scratch = stack.enter_context(scratch_files("bench-decision", args.keep))
            address, started_server = stack.enter_context(
                temporal_server(args.temporal, scratch.with_name(f"{scratch.name}-temporal.log"))
            )
            database = stack.enter_context(
                scratch_database("bench-decision-db", args.keep, args.database_url)
            )
            setup_django(database, address, task_queue)
            from reviewer_portal.temporal_client import connect

            client = bg.run(connect())
            minimal_queue = stack.enter_context(workers(bg, client, task_queue))
            started: list[str] = []
            if not started_server:  # our own server goes away with everything on it
                stack.callback(terminate_unfinished, bg, client, started)
            print(f"Preparing {count} loan gates and minimal workflows on {address}...", file=sys.stderr)
            gate_ids = start_loan_gates(client, count, started)
            minimal_ids = start_minimal_workflows(bg, client, minimal_queue, count, started)
            portal_log = scratch.with_name(f"{scratch.name}-portal.log")
            parts_file = scratch.with_name(f"{scratch.name}-parts.jsonl")
            app = args.portal_app
            if args.parts:
                os.environ[PARTS_FILE_VARIABLE] = str(parts_file)  # the portal's, from this environment
                stack.callback(parts_file.unlink, missing_ok=True)
                app = PARTS_APP
            base_url = stack.enter_context(portal_served_by(args.server, portal_log, app))
            portal = Portal.login(base_url, OFFICER, PASSWORD)
            stack.callback(portal.close)
            print("Measuring...", file=sys.stderr)
            samples = measure(bg, client, portal, gate_ids, minimal_ids, args.warmup)
            from benchmarks.signing_cost import measure_signing

            signing = measure_signing()
            parts = ""
            if args.parts:
                timed = read_parts(parts_file, args.warmup)
                parts = parts_report(timed, samples.sdk, samples.portal, TARGET_RATIO)
        print(report(samples, args.warmup, address, started_server, signing, parts))
    except BenchmarkError as err:
        print(f"benchmark failed: {err}", file=sys.stderr)
        return 1
    finally:
        bg.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What archiving costs, and what reading an audit trail from the archive costs against Temporal.

    python -m benchmarks.archive_cost [--runs 100] [--archived 10000] [--samples 50]
    (or python benchmarks/archive_cost.py ...)

(1) Archive throughput: `--runs` real loan runs (offline model, real projection, signed approval)
    are decided, then `archive_due` archives them as the Schedule's workflow would: fetch every
    history, decode the trail, seal and chain each record. Runs per second, and the record sizes.
(2) The chain grows to `--archived` records: copies of one real record's content under new
    workflow ids, appended as the archive appends (hash, seal, chain), which is timed too.
(3) The audit page and its export at that size, in-process (Django test Client), for one of the
    real runs: while Temporal has it (read from Temporal), then after it is deleted from Temporal
    (Temporal answers NOT_FOUND, then the archive); medians and the ratio. Its export carries the
    header of every record after it, up to the chain head.

Everything runs in this process against a Temporal dev server from this virtualenv, with a
throwaway SQLite database and keys under var/ (codec_cost's set-up). Figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.codec_cost import setup_django
from benchmarks.codec_payloads import converters
from benchmarks.figures import p50, p95
from benchmarks.loan_runs import GateWatcher, connect, one_loan_run, start_server, start_workers
from benchmarks.scratch import scratch_files


def archive_real_runs(expected: int) -> tuple[float, list[int]]:
    """Archive until `expected` runs are (visibility lists a closed run a moment late); seconds
    spent inside archive_due, and the sealed sizes."""
    from reviewer_portal.archive import archiver
    from reviewer_portal.archive.models import ArchiveRecord

    spent, deadline = 0.0, time.monotonic() + 120
    while ArchiveRecord.objects.count() < expected and time.monotonic() < deadline:
        started = time.perf_counter()
        archiver.archive_due(limit=expected)
        spent += time.perf_counter() - started
        time.sleep(0.2)
    return spent, list(ArchiveRecord.objects.values_list("size", flat=True))


def grow_chain(to: int) -> tuple[list[float], str]:
    """Append copies of the first record's content until the chain holds `to` records; the
    append times (ms) and one copy's workflow id."""
    from reviewer_portal.archive import chain
    from reviewer_portal.archive.models import ArchiveRecord

    model = ArchiveRecord.objects.order_by("seq").first()
    assert model is not None
    content = chain.content_of(model)
    assert content is not None
    times, copy_id = [], ""
    for _ in range(to - ArchiveRecord.objects.count()):
        copy_id = f"loan-archived-{uuid.uuid4()}"
        trail = {**content["trail"], "workflow_id": copy_id}
        started = time.perf_counter()
        chain.append(
            namespace=model.namespace,
            kind="run",
            content={**content, "workflow_id": copy_id, "trail": trail},
            workflow_id=copy_id,
            run_id=str(uuid.uuid4()),
            closed_at=model.closed_at,
            agent=model.agent,
            subject=model.subject,
            status=model.status,
        )
        times.append((time.perf_counter() - started) * 1000)
    return times, copy_id


def time_pages(workflow_id: str, source: str, samples: int) -> dict[str, list[float]]:
    """The run's audit page and export, `samples` times each, alternating; and the export's size."""
    from django.contrib.auth.models import Group, User
    from django.test import Client

    auditor, _ = User.objects.get_or_create(username="bench-auditor")
    auditor.groups.add(Group.objects.get_or_create(name="auditor")[0])
    client = Client()
    client.force_login(auditor)
    timings: dict[str, list[float]] = {}
    for _ in range(samples):
        for label, path in (
            (f"page ms, from {source}", f"/audit/{workflow_id}/"),
            (f"export ms, from {source}", f"/audit/{workflow_id}/export.json"),
        ):
            started = time.perf_counter()
            response = client.get(path)
            timings.setdefault(label, []).append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}")
            if label.startswith("export"):
                timings.setdefault(f"export KB, from {source}", []).append(len(response.content) / 1024)
    return timings


async def delete_from_temporal(client, workflow_id: str) -> float:  # type: ignore[no-untyped-def]
    """What retention does; the dev server carries it out after about 30 s. Seconds waited."""
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
    from temporalio.service import RPCError, RPCStatusCode

    execution = WorkflowExecution(workflow_id=workflow_id)
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(namespace=client.namespace, workflow_execution=execution)
    )
    started = time.monotonic()
    while time.monotonic() - started < 120:
        try:
            await client.get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return time.monotonic() - started
            raise
        await asyncio.sleep(0.5)
    raise RuntimeError(f"{workflow_id} was not deleted")


async def measure(runs: int, archived: int, samples: int) -> list[str]:
    from django.conf import settings

    from reviewer_portal.inbox.signals import gate_changed
    from reviewer_portal.temporal_client import reset_client

    encrypted, _ = converters()
    watcher = GateWatcher(asyncio.get_running_loop())
    gate_changed.connect(watcher.receive, weak=False, dispatch_uid="bench-archive-cost")
    executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="bench-activity")
    lines: list[str] = []
    try:
        async with AsyncExitStack() as stack:
            settings.TEMPORAL_ADDRESS = await start_server(stack)
            settings.ARCHIVE_VISIBILITY_LAG_SECONDS = 0
            reset_client()
            client = await connect(settings.TEMPORAL_ADDRESS, encrypted)
            [queue] = await start_workers(stack, [client], executor)
            print(f"Deciding {runs} loan runs...", file=sys.stderr)
            decided = []
            for start in range(0, runs, 4):
                batch = [one_loan_run(client, queue, watcher) for _ in range(min(4, runs - start))]
                decided += await asyncio.gather(*batch)
            print("Archiving them...", file=sys.stderr)
            spent, sizes = await asyncio.to_thread(archive_real_runs, runs)
            lines += [
                f"(1) archive throughput: {len(sizes)} real loan runs archived in {spent:.2f} s inside "
                f"archive_due = {len(sizes) / spent:.1f} runs/s ({spent / len(sizes) * 1000:.1f} ms a run)",
                f"    sealed record size p50 {p50(sizes) / 1024:.1f} KB, max {max(sizes) / 1024:.1f} KB",
            ]
            print(f"Growing the chain to {archived} records...", file=sys.stderr)
            appends, _ = await asyncio.to_thread(grow_chain, archived)
            if appends:
                lines.append(
                    f"(2) appending a record (hash, seal, chain), {len(appends)} appends: "
                    f"p50 {p50(appends):.2f} ms, p95 {p95(appends):.2f} ms"
                )
            run_id = await asyncio.to_thread(_last_real_run, len(decided))
            timings = await asyncio.to_thread(time_pages, run_id, "Temporal", samples)
            print("Deleting the run from Temporal, as retention would...", file=sys.stderr)
            await delete_from_temporal(client, run_id)
            timings |= await asyncio.to_thread(time_pages, run_id, "the archive", samples)
    finally:
        gate_changed.disconnect(dispatch_uid="bench-archive-cost")
        executor.shutdown(wait=True)
    lines += [
        "",
        f"(3) one run's audit page and export at {archived:,} archived records, in-process, n={samples}:",
        "    while Temporal has it, then after it was deleted from Temporal (read from the archive)",
        "",
    ]
    lines.append(f"{'':34}{'p50':>10}{'p95':>10}")
    for label, values in timings.items():
        lines.append(f"{label:34}{p50(values):10.2f}{p95(values):10.2f}")
    for what in ("page", "export"):
        ratio = p50(timings[f"{what} ms, from the archive"]) / p50(timings[f"{what} ms, from Temporal"])
        lines.append(f"{what}: archive / Temporal, p50s: {ratio:.2f}x")
    return lines


def _last_real_run(runs: int) -> str:
    from reviewer_portal.archive.models import ArchiveRecord

    return ArchiveRecord.objects.get(seq=runs).workflow_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--archived", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    started = time.monotonic()
    with scratch_files("bench-codec", args.keep) as stem:
        setup_django(stem)
        lines = asyncio.run(measure(args.runs, args.archived, args.samples))
    print("\n".join(lines))
    command = "python -m benchmarks.archive_cost " + " ".join(sys.argv[1:])
    print(f"\ncommand: {command.strip()}   ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

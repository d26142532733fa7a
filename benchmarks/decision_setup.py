"""What benchmarks/decision_latency.py sets up and tears down around its samples: a throwaway
database with the reviewer and the submitter, the loan agent's worker beside the minimal
workflow's, the loan gates to decide, and the runs to wait for or end."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from benchmarks.background_loop import BackgroundLoop
from benchmarks.cases import intake_values, loan_application
from benchmarks.loan_runs import loan_worker
from benchmarks.minimal_update import MinimalUpdateWorkflow
from benchmarks.processes import BenchmarkError
from benchmarks.scratch import throwaway_keys

if TYPE_CHECKING:
    from temporalio.client import Client

OFFICER = "bench-officer"
SUBMITTER = "bench-intake"  # four eyes: the case is submitted by someone other than the reviewer
PASSWORD = "bench-password"  # a throwaway user in a throwaway database


def setup_django(database_url: str, temporal_address: str, task_queue: str) -> None:
    """Point Django (here, and the portal subprocess via the environment) at the scratch DB."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["TEMPORAL_ADDRESS"] = temporal_address
    os.environ["TEMPORAL_TASK_QUEUE"] = task_queue
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewer_portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Throwaway keys, shared with the portal subprocess: for signing the decisions, and for the
    # payloads, every one of them encrypted as in production (the codec is on).
    os.environ.update(throwaway_keys("bench-portal-key"))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)

    from django.contrib.auth.models import Group, User

    from reviewer_portal.accounts.roles import CREDIT_OFFICER

    officers = Group.objects.get(name=CREDIT_OFFICER)
    for username in (OFFICER, SUBMITTER):
        User.objects.create_user(username=username, password=PASSWORD).groups.add(officers)


@contextmanager
def workers(bg: BackgroundLoop, client: Client, task_queue: str) -> Iterator[str]:
    """Run the loan agent's worker (with the real projection activities) and the minimal workflow's.

    Yields the minimal workflow's task queue; the agent's is `task_queue`.
    """
    from temporalio.worker import Worker

    minimal_queue = f"{task_queue}-minimal"
    executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="bench-activity")

    async def build() -> list[Worker]:  # a Worker must be created on the loop that runs it
        agent_worker = loan_worker(client, task_queue, executor)
        return [agent_worker, Worker(client, task_queue=minimal_queue, workflows=[MinimalUpdateWorkflow])]

    running = bg.run(build())
    tasks = [asyncio.run_coroutine_threadsafe(w.run(), bg.loop) for w in running]
    try:
        yield minimal_queue
    finally:
        for w in running:
            bg.run(w.shutdown())
        for task in tasks:
            task.result(30)
        executor.shutdown(wait=True)


def start_loan_gates(client: Client, count: int, started: list[str], timeout: float = 300) -> list[str]:
    """Submit `count` loan applications through the intake service; wait for their projected gates.

    Returns the gate ids, all pending for a credit officer other than the submitter; the workflow
    ids are added to `started`.
    """
    from django.contrib.auth.models import User

    from reviewer_portal.inbox.models import Gate
    from reviewer_portal.intake.services import intake_submit

    submitter = User.objects.get(username=SUBMITTER)
    workflow_ids = []
    for i in range(count):
        application = loan_application(f"Applicant {i:03d}", purpose="renovation")
        workflow_id = intake_submit(
            agent="loans",
            values=intake_values(application),
            submitted_by=submitter,
            submission_id=str(uuid.uuid4()),
        )
        workflow_ids.append(workflow_id)
        started.append(workflow_id)
    deadline = time.monotonic() + timeout
    pending = Gate.objects.filter(workflow_id__in=workflow_ids, status=Gate.Status.PENDING)
    while (ready := pending.count()) < count:
        if time.monotonic() > deadline:
            raise BenchmarkError(f"Only {ready} of {count} loan gates were projected in {timeout:.0f} s")
        time.sleep(0.2)
    return list(pending.order_by("gate_id").values_list("gate_id", flat=True))


def wait_for_run(bg: BackgroundLoop, client: Client, workflow_id: str) -> None:
    """Let a decided loan run finish its follow-up work, so it does not overlap the next sample."""

    async def result() -> None:
        outcome = (await client.get_workflow_handle(workflow_id).result()).get("outcome")
        if outcome != "approved":
            raise BenchmarkError(f"Loan run {workflow_id} ended {outcome!r}, not approved")

    bg.run(result())


def wait_until_quiet(bg: BackgroundLoop, client: Client, workflow_id: str, timeout: float = 30) -> None:
    """Wait until the run has no workflow task and no activity pending: the claim's own follow-up
    (its projection activity, then a workflow task) is over. A decision sent while a workflow task
    is pending waits for that task, so timing one then would time the claim's tail with it."""

    async def quiet() -> None:
        deadline = time.monotonic() + timeout
        handle = client.get_workflow_handle(workflow_id)
        while True:
            raw = (await handle.describe()).raw_description
            if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
                return
            if time.monotonic() > deadline:
                raise BenchmarkError(f"Loan run {workflow_id} still busy after {timeout:.0f} s")
            await asyncio.sleep(0.01)

    bg.run(quiet())


def terminate_unfinished(bg: BackgroundLoop, client: Client, workflow_ids: list[str]) -> None:
    """After a failure, leave no run of ours waiting on someone else's server."""
    from temporalio.client import WorkflowExecutionStatus

    async def terminate() -> None:
        for workflow_id in workflow_ids:
            handle = client.get_workflow_handle(workflow_id)
            with suppress(Exception):
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate(reason="decision latency benchmark ended")

    bg.run(terminate())

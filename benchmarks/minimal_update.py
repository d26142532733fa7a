"""The least a decision can cost in Temporal, for decision_latency.py: a minimal workflow waiting for
one validated `decide` Update, started ahead and timed around one `execute_update` each."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from benchmarks.background_loop import BackgroundLoop
    from benchmarks.processes import BenchmarkError

if TYPE_CHECKING:
    from temporalio.client import Client


@workflow.defn
class MinimalUpdateWorkflow:
    """Waits for one `decide` Update, then ends: the least a decision can cost in Temporal."""

    def __init__(self) -> None:
        self._decision: str | None = None

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self._decision is not None)
        assert self._decision is not None
        return self._decision

    @workflow.update
    def decide(self, decision: str) -> str:
        self._decision = decision
        return decision

    @decide.validator
    def validate_decide(self, decision: str) -> None:
        # Like the agent's validator: refuse before anything enters history.
        if self._decision is not None or decision not in ("approve", "reject"):
            raise ApplicationError(f"Refused decision {decision!r}", non_retryable=True)


def start_minimal_workflows(
    bg: BackgroundLoop, client: Client, task_queue: str, count: int, started: list[str]
) -> list[str]:
    """Start `count` minimal workflows and wait until each has run its first workflow task."""

    async def start() -> list[str]:
        handles = []
        for _ in range(count):
            workflow_id = f"bench-minimal-{uuid.uuid4().hex[:12]}"
            handles.append(
                await client.start_workflow(MinimalUpdateWorkflow.run, id=workflow_id, task_queue=task_queue)
            )
            started.append(workflow_id)
        for handle in handles:
            # Started, task scheduled, started, completed: now it waits for the Update, like a gate.
            while (await handle.describe()).history_length < 4:
                await asyncio.sleep(0.05)
        return [h.id for h in handles]

    return bg.run(start(), timeout=300)


def time_sdk_update(bg: BackgroundLoop, client: Client, workflow_id: str) -> float:
    """(a) One `execute_update` round trip on a waiting minimal workflow, in seconds."""

    async def measure() -> float:
        handle = client.get_workflow_handle_for(MinimalUpdateWorkflow.run, workflow_id)
        started = time.perf_counter()
        answer = await handle.execute_update(MinimalUpdateWorkflow.decide, "approve", id=str(uuid.uuid4()))
        elapsed = time.perf_counter() - started
        if answer != "approve" or await handle.result() != "approve":
            raise BenchmarkError(f"Minimal workflow {workflow_id} answered {answer!r}")
        return elapsed

    return bg.run(measure())

"""The worker processes of gate_throughput.py: the bare baseline workflow, the stand-ins that
note when a run reaches its gate, the log they note it in, and a worker serving either kind until
its stdin closes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

GATE_LOG_ENV = "GATE_THROUGHPUT_LOG"
BARE_GATE_ACTIVITY = "bench.bare_gate"
STEP_ACTIVITY = "bench.step"
STEP_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_attempts=1),
}


# --- the bare baseline and the gate stand-ins ---------------------------------------------------


@workflow.defn(name="GateThroughputBare")
class BareWorkflow:
    """The least a run to a gate can cost: one no-op activity (it notes the 'gate'), then done."""

    @workflow.run
    async def run(self, payload: dict[str, Any]) -> bool:
        reached: bool = await workflow.execute_activity(
            BARE_GATE_ACTIVITY,
            payload,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        return reached


@workflow.defn(name="GateThroughputSteps")
class StepsWorkflow:
    """A loan run's steps to its gate with nothing in them: what Temporal alone costs a run of
    that shape. The bureau beside the local calculator (the opening calls), the local policy check
    (the framework's second turn), the model, the gate (noted by a local activity, as the gate is
    published), then a durable wait like the gate's SLA timer."""

    @workflow.run
    async def run(self, payload: dict[str, Any]) -> bool:
        await asyncio.gather(
            workflow.execute_activity(STEP_ACTIVITY, payload, **STEP_OPTIONS),
            workflow.execute_local_activity(STEP_ACTIVITY, payload, **STEP_OPTIONS),
        )
        await workflow.execute_local_activity(STEP_ACTIVITY, payload, **STEP_OPTIONS)
        await workflow.execute_activity(STEP_ACTIVITY, payload, **STEP_OPTIONS)
        reached: bool = await workflow.execute_local_activity(BARE_GATE_ACTIVITY, payload, **STEP_OPTIONS)
        await workflow.wait_condition(lambda: False, timeout=timedelta(hours=1))
        return reached


def _note_gate() -> bool:
    """Append `<workflow id> <wall time>` to the gate log: one short O_APPEND write, atomic."""
    line = f"{activity.info().workflow_id} {time.time():.6f}\n".encode()
    fd = os.open(os.environ[GATE_LOG_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return True


@activity.defn(name=BARE_GATE_ACTIVITY)
async def bare_gate(payload: dict[str, Any]) -> bool:
    return _note_gate()


@activity.defn(name=STEP_ACTIVITY)
async def step(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


async def gate_published(snapshot: dict[str, Any]) -> bool:
    """Stands in for the portal's `publish_gate`: notes the gate."""
    return _note_gate()


async def gate_change_published(publication: dict[str, Any]) -> bool:
    """The same for `publish_gate_change`; True tells the workflow the change was applied."""
    return _note_gate()


async def gate_change_published_locally(publication: dict[str, Any]) -> dict[str, Any]:
    """The same for `publish_gate_change_local`, answered as the portal's is."""
    return {"in_sync": _note_gate(), "publication": publication}


async def notice_dropped(notice: dict[str, Any]) -> int:
    return 0


# --- the gate log, as this process reads it --------------------------------------------------------


class GateLog:
    """Reads the gate times the workers append, as they come."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0
        self.times: dict[str, float] = {}

    def read(self) -> None:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            data = log.read()
        complete = data.rpartition(b"\n")[0]
        self.offset += len(complete) + (1 if complete else 0)
        for line in complete.decode().splitlines():
            workflow_id, _, at = line.partition(" ")
            self.times.setdefault(workflow_id, float(at))


# --- worker processes ---------------------------------------------------------------------------


async def serve(address: str, kind: str, queue: str, sandbox: str) -> None:
    """A worker process: serve `queue` until stdin closes, its workflows' modules treated by the
    sandbox as `sandbox` says (agents.framework.sandbox)."""
    from concurrent.futures import ThreadPoolExecutor

    from temporalio.client import Client
    from temporalio.worker import Worker

    from agents.framework.sandbox import sandbox_named, workflow_runner

    client = await Client.connect(address)
    if kind in ("bare", "steps"):
        from agents.framework import worker as ours
        from agents.framework.bytecode import compile_workflow_modules

        # The same workflow-task settings as ours (build_worker's), where it sets them.
        tuned = {
            option: getattr(ours, name)
            for option, name in (
                ("max_concurrent_workflow_tasks", "WORKFLOW_TASK_SLOTS"),
                ("sticky_queue_schedule_to_start_timeout", "STICKY_SCHEDULE_TO_START"),
            )
            if hasattr(ours, name)
        }
        workflows = [BareWorkflow] if kind == "bare" else [StepsWorkflow]
        compile_workflow_modules(workflows)  # as build_worker does for ours
        worker = Worker(
            client,
            task_queue=queue,
            workflows=workflows,
            activities=[bare_gate, step],
            workflow_runner=workflow_runner(sandbox_named(sandbox), workflows),
            **tuned,
        )
    else:
        from agents.framework.contract import (
            NOTIFY_ACTIVITY,
            PUBLISH_ACTIVITY,
            PUBLISH_CHANGE_ACTIVITY,
            PUBLISH_LOCAL_ACTIVITY,
        )
        from agents.framework.llm import LlmSettings
        from agents.framework.worker import build_worker
        from agents.loans import LOAN_AGENT

        stand_ins = (
            activity.defn(name=PUBLISH_ACTIVITY)(gate_published),
            activity.defn(name=PUBLISH_CHANGE_ACTIVITY)(gate_change_published),
            activity.defn(name=PUBLISH_LOCAL_ACTIVITY)(gate_change_published_locally),
            activity.defn(name=NOTIFY_ACTIVITY)(notice_dropped),
        )
        executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="bench-activity")
        worker = build_worker(
            client,
            task_queue=queue,
            agents=[LOAN_AGENT],
            llm=LlmSettings(),  # the offline model
            portal_activities=stand_ins,
            executor=executor,
            keyring=None,  # the framework alone: no portal signs its starts
            sandbox=sandbox_named(sandbox),
        )
    async with worker:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


@contextmanager
def worker_processes(
    address: str, kind: str, queue: str, count: int, gate_log: Path, sandbox: str
) -> Iterator[None]:
    env = {**os.environ, GATE_LOG_ENV: str(gate_log), "OPENAI_API_KEY": ""}
    command = [
        sys.executable,
        str(Path(__file__).parent / "gate_throughput.py"),
        "--serve",
        kind,
        queue,
        "--temporal",
        address,
        "--sandbox",
        sandbox,
    ]
    processes = [
        subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        for _ in range(count)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            if process.stdout.readline().strip() != b"ready":
                raise RuntimeError(f"a {kind} worker did not start (exit {process.poll()})")
        yield
    finally:
        for process in processes:
            assert process.stdin is not None
            process.stdin.close()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

"""Agent runs for agent_overhead.py: which agents run, their worker, and one run timed to its
first gate or its end, with the shape of what it scheduled until then."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from temporalio import activity

if TYPE_CHECKING:  # the framework is imported where used: run as a script, the repo is on the path late
    from temporalio.api.history.v1 import History
    from temporalio.client import Client, WorkflowHandle
    from temporalio.worker import Worker

    from agents.framework.registry import AgentSpec

RUN_TIMEOUT = 30.0


# --- which agents, on which worker -------------------------------------------------------------


def load_agents(packages: Sequence[str]) -> tuple[list[AgentSpec], list[str]]:
    """Import each package as the worker does; the agents with demo cases, and why others are left out."""
    from agents.framework.registry import AGENTS, load_agent_packages

    skipped = []
    for package in packages:
        before = set(AGENTS)
        try:
            load_agent_packages([package])
        except Exception as err:  # a package being written may not import yet
            for name in set(AGENTS) - before:  # and what it registered before failing is not run
                del AGENTS[name]
            skipped.append(f"{package}: skipped: {type(err).__name__}: {err}")
    runnable = []
    for name, spec in sorted(AGENTS.items()):
        if spec.demo_cases is not None:
            runnable.append(spec)
        else:
            upload = f" (its runs start by preparing an upload: {spec.prepare})" if spec.prepare else ""
            skipped.append(f"{name}: skipped: declares no demo_cases{upload}")
    return runnable, skipped


async def notice_dropped(notice: dict[str, Any]) -> int:
    """Stands in for the portal's `notify_reviewers`: nobody is told."""
    return 0


@functools.cache  # made once: a function takes one activity definition
def portal_stand_ins() -> tuple[Callable[..., Any], ...]:
    """The portal's activities under their names: publishing notes the gate (parallel_tools.py's
    stand-ins), notices are dropped."""
    from agents.framework.contract import (
        NOTIFY_ACTIVITY,
        PUBLISH_ACTIVITY,
        PUBLISH_CHANGE_ACTIVITY,
        PUBLISH_LOCAL_ACTIVITY,
    )
    from benchmarks.parallel_tools import gate_change_reached, gate_change_reached_locally, gate_reached

    return (
        activity.defn(name=PUBLISH_ACTIVITY)(gate_reached),
        activity.defn(name=PUBLISH_CHANGE_ACTIVITY)(gate_change_reached),
        activity.defn(name=PUBLISH_LOCAL_ACTIVITY)(gate_change_reached_locally),
        activity.defn(name=NOTIFY_ACTIVITY)(notice_dropped),
    )


def agent_worker(
    client: Client, task_queue: str, specs: list[AgentSpec], executor: ThreadPoolExecutor
) -> Worker:
    from agents.framework.llm import LlmSettings
    from agents.framework.worker import build_worker

    return build_worker(
        client,
        task_queue=task_queue,
        agents=specs,
        llm=LlmSettings(),  # the offline model
        portal_activities=portal_stand_ins(),
        executor=executor,
        keyring=None,  # the framework alone: no portal signs its starts
    )


async def served(
    client: Client, specs: list[AgentSpec], executor: ThreadPoolExecutor, skipped: list[str]
) -> AsyncIterator[tuple[AgentSpec, str]]:
    """Each agent with the task queue of a running worker serving it: one worker for all, or, if
    their activities clash (a package being written), one each in turn."""
    queue = f"bench-overhead-{uuid.uuid4().hex[:10]}"
    try:  # a clash raises before the worker registers with the server
        worker = agent_worker(client, queue, specs, executor)
    except (TypeError, ValueError) as err:
        print(f"The agents do not fit on one worker ({err}): a worker each", file=sys.stderr)
    else:
        async with worker:
            for spec in specs:
                yield spec, queue
        return
    for spec in specs:
        queue = f"bench-overhead-{uuid.uuid4().hex[:10]}"
        try:
            worker = agent_worker(client, queue, [spec], executor)
        except (TypeError, ValueError) as err:
            skipped.append(f"{spec.name}: skipped: its activities make no worker: {err}")
            continue
        async with worker:
            yield spec, queue


# --- one run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """The activities an agent run scheduled up to its first gate (or its end), by step: those
    one workflow task scheduled together."""

    steps: tuple[int, ...]
    gate_activity: str  # the publish that opened the gate; "" if the run ended first
    gate_local: bool = False  # published by a local activity after the steps (local publish)

    @property
    def activities(self) -> int:
        return sum(self.steps)


def shape_of(history: History) -> Shape:
    from agents.framework.contract import PUBLISH_ACTIVITY, PUBLISH_CHANGE_ACTIVITY, PUBLISH_LOCAL_ACTIVITY

    steps: dict[int, int] = {}  # by the WorkflowTaskCompleted event that scheduled them, in order
    for event in history.events:
        if event.HasField("marker_recorded_event_attributes"):
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == "core_local_activity" and "data" in marker.details:
                local = json.loads(marker.details["data"].payloads[0].data).get("activity_type")
                if local == PUBLISH_LOCAL_ACTIVITY:
                    return Shape(tuple(steps.values()), local, gate_local=True)
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            step = scheduled.workflow_task_completed_event_id
            steps[step] = steps.get(step, 0) + 1
            if scheduled.activity_type.name in (PUBLISH_ACTIVITY, PUBLISH_CHANGE_ACTIVITY):
                return Shape(tuple(steps.values()), scheduled.activity_type.name)
    return Shape(tuple(steps.values()), "")


async def timed_run(client: Client, run: Any, arg: Any, *, task_queue: str) -> tuple[float, WorkflowHandle]:
    """Start a run and time it to its first gate or its end; a run at a gate is terminated once idle."""
    from temporalio.service import RPCError

    from benchmarks.parallel_tools import busy, gates_reached
    from benchmarks.processes import BenchmarkError

    workflow_id = f"bench-overhead-{uuid.uuid4().hex[:12]}"
    started = time.perf_counter()
    handle = await client.start_workflow(run, arg, id=workflow_id, task_queue=task_queue)
    ended = False
    try:
        async with asyncio.timeout(RUN_TIMEOUT):
            ended = await _gate_or_end(handle, gates_reached[workflow_id])
            seconds = time.perf_counter() - started
            while not ended and busy((await handle.describe()).raw_description):
                await asyncio.sleep(0.01)
    except TimeoutError as err:
        raise BenchmarkError(
            f"run {workflow_id} reached no gate and no end within {RUN_TIMEOUT:.0f} s"
        ) from err
    finally:
        gates_reached.pop(workflow_id, None)
        if not ended:
            with suppress(RPCError):  # it ended meanwhile, as a baseline run does after its gate
                await handle.terminate(reason="agent overhead benchmark: gate reached")
    return seconds, handle


async def _gate_or_end(handle: WorkflowHandle, gate: asyncio.Event) -> bool:
    """Wait for the run's first gate or its end: True if it ended first; a failed run raises."""
    reached, result = asyncio.ensure_future(gate.wait()), asyncio.ensure_future(handle.result())
    try:
        await asyncio.wait((reached, result), return_when=asyncio.FIRST_COMPLETED)
    finally:
        reached.cancel()
        result.cancel()
    if reached.done() and not reached.cancelled():
        return False
    result.result()
    return True


async def agent_run(client: Client, task_queue: str, spec: AgentSpec) -> tuple[float, Shape]:
    from agents.framework.contract import UNPROCESSABLE
    from agents.framework.types import AgentInput
    from agents.framework.workflow import AgentWorkflow
    from benchmarks.processes import BenchmarkError

    cases = spec.demo_cases() if spec.demo_cases else []
    if not cases:
        raise BenchmarkError("its demo_cases are empty")
    agent_input = AgentInput(
        spec=spec.pin(), subject=cases[0].subject, case=cases[0].case, submitted_by="bench"
    )
    seconds, handle = await timed_run(client, AgentWorkflow.run, agent_input, task_queue=task_queue)
    shape = shape_of(await handle.fetch_history())
    if not shape.gate_activity and (result := await handle.result()).outcome == UNPROCESSABLE:
        raise BenchmarkError(f"its demo case could not be prepared: {result.action.get('reason')}")
    return seconds, shape

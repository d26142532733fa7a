"""Durability under crashes: SIGKILL the worker mid-run; a new worker finishes the run.

The worker is the real sidecar (`manage.py run_worker`) serving the test agent in
tests/agents/durable.py, whose every activity execution appends a line to a side-effect log. The
workflow history says which activities had completed when the worker died; the log says how often
each one actually ran.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowHistory
from temporalio.service import RPCError

from agents.framework.contract import LLM_ACTIVITY
from agents.framework.types import AgentInput, GateSnapshot
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.trust.keys import trusted_keys
from tests import actions
from tests.agents.durable import DURABLE_AGENT, SIDE_EFFECTS_ENV, STEP_TOOLS
from tests.harness import TemporalHarness

pytestmark = pytest.mark.once  # the database is not what it tests: one CI pass

ROOT = Path(__file__).resolve().parent.parent
STEPS_BEFORE_KILL = 2
# Generous: a loaded 2-core machine may take many seconds to start Django and the worker.
KILL_DEADLINE = 90
# The step in flight at the kill is retried only after its start-to-close timeout (30 s), since
# tools do not heartbeat; then the new worker replays the history and finishes the plan.
GATE_DEADLINE = 240

ActivityKey = tuple[str, str]  # (activity type, activity id)


def start_worker(queue: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    # Output goes to a file: a pipe nobody reads would fill up and stall the worker.
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", "--task-queue", queue, "--domain", "durable"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def completed_activities(history: WorkflowHistory) -> set[ActivityKey]:
    """The activities whose completion is recorded in `history`."""
    scheduled = {
        e.event_id: (
            e.activity_task_scheduled_event_attributes.activity_type.name,
            e.activity_task_scheduled_event_attributes.activity_id,
        )
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    return {
        scheduled[e.activity_task_completed_event_attributes.scheduled_event_id]
        for e in history.events
        if e.HasField("activity_task_completed_event_attributes")
    }


def wait_until_mid_plan(temporal: TemporalHarness, handle: WorkflowHandle, worker: subprocess.Popen) -> None:
    """Return while a step runs and at least STEPS_BEFORE_KILL steps have completed."""

    async def poll() -> None:
        async with asyncio.timeout(KILL_DEADLINE):
            while True:
                assert worker.poll() is None, "the worker exited before it was killed"
                completed = completed_activities(await handle.fetch_history())
                steps = sum(1 for name, _ in completed if name in STEP_TOOLS)
                assert steps < len(STEP_TOOLS), "the plan finished before the worker could be killed"
                if steps >= STEPS_BEFORE_KILL:
                    # Cut off a running step rather than a model call: a dead worker's step is
                    # retried after its 30 s start-to-close timeout, a model call only after 90 s.
                    pending = (await handle.describe()).raw_description.pending_activities
                    if any(
                        a.activity_type.name in STEP_TOOLS
                        and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                        for a in pending
                    ):
                        return
                await asyncio.sleep(0.05)

    temporal.run(poll(), timeout=KILL_DEADLINE + 10)


def wait_for_open_gate(temporal: TemporalHarness, handle: WorkflowHandle) -> GateSnapshot:
    """Poll the `gate` query; while the new worker takes over, a query may fail or time out."""

    async def poll() -> GateSnapshot:
        async with asyncio.timeout(GATE_DEADLINE):
            while True:
                try:
                    gate = await handle.query(AgentWorkflow.gate, rpc_timeout=timedelta(seconds=10))
                except RPCError:
                    gate = None
                if gate is not None:
                    return gate
                await asyncio.sleep(0.5)

    return temporal.run(poll(), timeout=GATE_DEADLINE + 10)


@pytest.fixture
def worker_env(temporal: TemporalHarness, tmp_path: Path) -> dict[str, str]:
    """The sidecar's environment: the test server, a migrated SQLite file, the test agent."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite3'}",
        "TEMPORAL_ADDRESS": temporal.address,
        "OPENAI_API_KEY": "",  # the offline model, whose policy logs each LLM call
        "AGENT_PACKAGES": "agents.loans,tests.agents.durable",
        SIDE_EFFECTS_ENV: str(tmp_path / "side_effects.log"),
    }
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    return env


def test_worker_killed_mid_run_resumes_without_rerunning_completed_activities(temporal, tmp_path, worker_env):
    queue = f"durable-{uuid.uuid4().hex[:10]}"
    side_effects = Path(worker_env[SIDE_EFFECTS_ENV])
    side_effects.touch()
    agent_input = AgentInput(
        spec=DURABLE_AGENT.pin(),
        subject="Durability check",
        case={"queue": queue},
        submitted_by="intake",
        submitted_by_id=actions.person_id("intake"),
        trusted_keys=trusted_keys(),
    )
    first = start_worker(queue, worker_env, tmp_path / "worker1.log")
    second = None
    handle = temporal.run(
        temporal.client.start_workflow(AgentWorkflow.run, agent_input, id=f"{queue}-run", task_queue=queue)
    )
    try:
        wait_until_mid_plan(temporal, handle, first)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        before_kill = completed_activities(temporal.run(handle.fetch_history()))

        second = start_worker(queue, worker_env, tmp_path / "worker2.log")
        gate = wait_for_open_gate(temporal, handle)
        actions.decide(temporal, handle, gate.gate_id, reason="All checks passed")
        result = temporal.run(handle.result(), timeout=120)
        second.send_signal(signal.SIGTERM)
        second.wait(60)
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.kill()
                worker.wait(30)
        if temporal.run(handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            temporal.run(handle.terminate("test failed"))
        # Shown by pytest only when the test fails.
        for name in ("side_effects.log", "worker1.log", "worker2.log"):
            if (tmp_path / name).exists():
                print(f"--- {name}\n{(tmp_path / name).read_text()}")

    lines = side_effects.read_text().splitlines()
    runs = Counter(tuple(line.split()[:2]) for line in lines)  # per (activity type, activity id)
    runs_of_type = Counter(line.split()[0] for line in lines)
    steps_before_kill = [key for key in before_kill if key[0] in STEP_TOOLS]
    assert STEPS_BEFORE_KILL <= len(steps_before_kill) < len(STEP_TOOLS)
    assert any(key[0] == LLM_ACTIVITY for key in before_kill)

    # What had completed before the kill never ran again. The activity in flight at the kill may
    # legitimately have run twice: its effect happened, but its completion never reached Temporal,
    # which retried it on the new worker (at-least-once). Nothing stronger is asserted for it.
    assert {key: runs[key] for key in before_kill} == dict.fromkeys(before_kill, 1)
    assert all(runs_of_type[step] >= 1 for step in STEP_TOOLS)
    assert [(r.name, r.ok) for r in result.gate.tool_results] == [(step, True) for step in STEP_TOOLS]
    assert result.outcome == "approved"
    # The downstream action ran once, after the human decision, and nothing else downstream did.
    assert result.action == {"action": "fulfilled", "approved_by": "officer"}
    assert runs_of_type["durable.fulfil"] == 1 and runs_of_type["durable.withdraw"] == 0
    assert second.returncode == 0

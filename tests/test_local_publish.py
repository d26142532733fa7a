"""A gate's opening is published to the portal's projection as a local activity, in the workflow
task that opens it (patch local-publish): a loan run reaches its gate one activity task and one
workflow task sooner; its later changes, most of them after a reviewer's Update, go as tasks. Its marker keeps the publication, so the audit trail still shows the gate
as it opened. A projection that cannot take the write within seconds (its database down or
locked) is left to an ordinary activity task, which the server retries without holding the
workflow task open or growing history while it waits."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import replace
from datetime import timedelta

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from agents.framework import patches
from agents.framework.contract import PUBLISH_CHANGE_ACTIVITY, PUBLISH_LOCAL_ACTIVITY
from agents.framework.gate_changes import GatePublication
from agents.framework.patches import PATCH_LOCAL_PUBLISH
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.audit.timeline import read_timeline
from reviewer_portal.inbox import projection
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.projection import gate_apply_snapshot
from reviewer_portal.inbox.publishing import publish_gate_change
from reviewer_portal.inbox.signals import gate_changed
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from reviewer_portal.temporal_client import data_converter
from tests import actions
from tests.conftest import HISTORIES, activity_names, record_history, start_loan, wait_for_gate
from tests.test_decision_safety import snapshot
from tests.test_local_tools import local_calls

OFFICER = ["credit_officer"]


def events(temporal, handle) -> list[str]:
    history = temporal.run(handle.fetch_history())
    return [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events]


def wait_for_row(gate_id: str, status: str = "pending", timeout: float = 15) -> Gate:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = Gate.objects.filter(gate_id=gate_id, status=status).first()
        if row is not None:
            return row
        time.sleep(0.05)
    raise AssertionError(f"{gate_id} never reached the projection as {status}")


def wait_for_event(temporal, handle, kind: str, timeout: float = 15) -> list[str]:
    """The run's event kinds, once `kind` is among them."""
    deadline = time.monotonic() + timeout
    while kind not in (kinds := events(temporal, handle)):
        assert time.monotonic() < deadline, f"no {kind} in {kinds}"
        time.sleep(0.05)
    return kinds


def trail_of(temporal, handle):
    history = temporal.run(handle.fetch_history())
    return temporal.run(read_timeline(temporal.client.data_converter, [history]))


def test_a_loan_run_publishes_its_gate_in_the_task_that_opens_it(temporal, worker):
    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)
    row = wait_for_row(gate.gate_id)
    # The row commits inside the workflow task; its marker is history once that task completes.
    kinds = wait_for_event(temporal, handle, "TIMER_STARTED")

    assert row.version == gate.version == 1
    assert PUBLISH_CHANGE_ACTIVITY not in activity_names(temporal, handle)
    assert (PUBLISH_LOCAL_ACTIVITY, 1) in local_calls(temporal, handle)
    # The model's answer, then the workflow task that publishes (a marker) and starts the SLA timer.
    model_done = kinds.index("ACTIVITY_TASK_COMPLETED", kinds.index("ACTIVITY_TASK_SCHEDULED", 10))
    after_model = kinds[model_done : kinds.index("TIMER_STARTED") + 1]
    assert after_model[:3] == ["ACTIVITY_TASK_COMPLETED", "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED"]
    assert after_model[-3:] == ["WORKFLOW_TASK_COMPLETED", "MARKER_RECORDED", "TIMER_STARTED"]
    # Between them only workflow tasks completed empty: the SDK's heartbeat of a task whose local
    # activity is still running at 80 % of the task's timeout (seen once on a loaded CI machine).
    assert set(after_model[1:-2]) == {
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
    }
    # Two activity tasks to the gate (the bureau, the model); three when the publish was one.
    assert kinds.count("ACTIVITY_TASK_SCHEDULED") == 2
    opened = [e for e in trail_of(temporal, handle) if e.kind == "gate"]
    assert [e.title for e in opened] == ["Gate opened for Credit officer (recommendation: approve)"]
    assert opened[0].data["gate_id"] == gate.gate_id and opened[0].data["version"] == 1

    actions.decide(temporal, handle, gate.gate_id, "approve", "Affordable", "officer", OFFICER)
    result = temporal.run(handle.result())

    assert result.outcome == "approved"
    assert wait_for_row(gate.gate_id, "approved").version == 3  # claimed (2), then decided
    # The claim and the decision are published as tasks: a reviewer's Update is answered with its
    # workflow task, which a local publish would hold up.
    assert activity_names(temporal, handle).count(PUBLISH_CHANGE_ACTIVITY) == 2
    assert [c for c in local_calls(temporal, handle) if c[0] == PUBLISH_LOCAL_ACTIVITY] == [
        (PUBLISH_LOCAL_ACTIVITY, 1)
    ]
    titles = [e.title for e in trail_of(temporal, handle)]
    assert "decide: approve by officer: Affordable" in titles
    record_history(temporal, handle, "loan_local_publish_approved")


def test_a_projection_that_cannot_take_the_write_is_left_to_an_activity_task(temporal, transactional_db):
    """The local publish keeps failing (the portal's database is down): after its few attempts
    the run sends the same publication as an ordinary task, which reaches the projection once
    the database is back. The trail shows the gate opened once and no failure of the publish."""
    database_back = threading.Event()

    @activity.defn(name=PUBLISH_LOCAL_ACTIVITY)
    def database_down(publication: GatePublication) -> dict:
        raise ApplicationError("could not connect to the portal's database")

    @activity.defn(name=PUBLISH_CHANGE_ACTIVITY)
    def publish_when_back(publication: GatePublication) -> bool:
        if not database_back.is_set():
            raise ApplicationError("could not connect to the portal's database")
        return publish_gate_change(publication)

    others = [
        a for a in PORTAL_ACTIVITIES if a.__name__ not in ("publish_gate_change", "publish_gate_change_local")
    ]
    with temporal.worker(portal_activities=[database_down, publish_when_back, *others]) as queue:
        handle = start_loan(temporal, queue)
        gate = wait_for_gate(temporal, handle)
        deadline = time.monotonic() + 15
        while PUBLISH_CHANGE_ACTIVITY not in activity_names(temporal, handle):
            assert time.monotonic() < deadline, "the run never fell back to a publish task"
            time.sleep(0.1)
        waiting = len(events(temporal, handle))
        time.sleep(3)  # the task is retried meanwhile (1 s, 2 s): history does not grow
        assert len(events(temporal, handle)) == waiting
        assert not Gate.objects.filter(gate_id=gate.gate_id).exists()
        database_back.set()
        row = wait_for_row(gate.gate_id)

    assert row.version == 1
    failed_local = [call for call in local_calls(temporal, handle) if call[0] == PUBLISH_LOCAL_ACTIVITY]
    assert failed_local == [(PUBLISH_LOCAL_ACTIVITY, 3)]  # one call, three attempts, one marker
    trail = trail_of(temporal, handle)
    assert [e.title for e in trail if e.kind == "gate"] == [
        "Gate opened for Credit officer (recommendation: approve)"
    ]
    assert not [e for e in trail if e.kind == "failure"]
    record_history(temporal, handle, "loan_local_publish_fell_back")
    temporal.run(handle.terminate("test done"))


def test_a_local_publish_slower_than_its_limit_is_not_cut_off_and_still_announces_the_gate(
    temporal, transactional_db, monkeypatch
):
    """The database is slow right after the row commits (6 s, past the local publish's 5 s): the
    try is left to finish, as a task would be, so the gate is announced (live push, role bump) once
    it has. Cut off there, its retry would find the row at its version and announce nothing."""
    heard, cut_off, calls = [], [], itertools.count()
    slow_notices = projection.notices_for_gate_change

    def slow_after_the_commit(**kwargs):
        if next(calls) == 0:
            try:
                time.sleep(6)
            except BaseException as err:  # what the SDK would raise in the thread at its limit
                cut_off.append(type(err).__name__)
                raise
        return slow_notices(**kwargs)

    def listener(sender, gate, created, **kwargs):
        heard.append((gate.gate_id, created))

    monkeypatch.setattr(projection, "notices_for_gate_change", slow_after_the_commit)
    gate_changed.connect(listener, weak=False)
    try:
        with temporal.worker(portal_activities=PORTAL_ACTIVITIES) as queue:
            handle = start_loan(temporal, queue)
            gate = wait_for_gate(temporal, handle, timeout=40)
            deadline = time.monotonic() + 15
            while (gate.gate_id, True) not in heard:
                assert time.monotonic() < deadline, f"never announced: {heard}, cut off: {cut_off}"
                time.sleep(0.1)
            temporal.run(handle.terminate("test done"))
    finally:
        gate_changed.disconnect(listener)

    assert cut_off == []
    assert Gate.objects.get(gate_id=gate.gate_id).version == 1


def test_runs_begun_before_local_publish_replay_with_tasks_and_the_patch_is_what_tells_them_apart(
    monkeypatch,
):
    """A run recorded with patch-set-2026-11e published its gate by a task, and replays so on
    today's code; the run recorded since (with patch-set-2026-11f), replayed by code whose set lacked
    the patch, does not: the replay checks the local publish."""

    def replay(name: str):
        recorded = json.loads((HISTORIES / name).read_text())
        history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
        replayer = Replayer(
            workflows=[AgentWorkflow],
            data_converter=data_converter(),
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
        return asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False))

    assert replay("loan_opening_calls_after_approved.json").replay_failure is None  # 11e: a task
    assert replay("loan_local_publish_approved.json").replay_failure is None
    without = tuple(
        (name, members - {PATCH_LOCAL_PUBLISH} if name == "patch-set-2026-11f" else members)
        for name, members in patches.PATCH_SETS
    )
    monkeypatch.setattr(patches, "PATCH_SETS", without)  # the set that history recorded
    assert replay("loan_local_publish_approved.json").replay_failure is not None


def test_a_gate_opened_again_at_its_version_keeps_the_time_it_was_first_seen(transactional_db):
    """A workflow task retried after its local publish committed (its worker died, a bug later in
    the task, a timeout) opens the gate again at the same version, at the retry's own later time.
    The row keeps the first: a run whose opening task fails again and again would otherwise push
    its deadline on with every try, and its SLA badge would never show the stuck run overdue. The
    run takes the row's time for its own (tests/test_opening_retried.py)."""
    first = snapshot(gate_id="loan-f4--g1", workflow_id="loan-f4", status="pending", version=1)
    retries = [
        replace(
            first,
            opened_at=first.opened_at + timedelta(seconds=s),
            deadline=first.deadline + timedelta(seconds=s),
        )
        for s in (10, 20, 30)
    ]

    assert gate_apply_snapshot(snapshot=first)
    assert not any(gate_apply_snapshot(snapshot=retry) for retry in retries)

    row = Gate.objects.get(gate_id="loan-f4--g1")
    assert (row.version, row.opened_at, row.deadline) == (1, first.opened_at, first.deadline)

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
import os
import threading
import time
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from agents.framework import patches
from agents.framework.contract import PUBLISH_CHANGE_ACTIVITY, PUBLISH_LOCAL_ACTIVITY
from agents.framework.gate_changes import GatePublication
from agents.framework.patches import PATCH_LOCAL_PUBLISH
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.audit.timeline import read_timeline
from reviewer_portal.inbox import projection, worker_activities
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.projection import gate_apply_snapshot, publish_gate_change
from reviewer_portal.inbox.signals import gate_changed
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from reviewer_portal.temporal_client import data_converter
from tests import actions
from tests.conftest import HISTORIES, activity_names, manage_py, record_history, start_loan, wait_for_gate
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


def test_an_opening_is_published_locally_while_every_shared_activity_thread_is_busy(
    temporal, transactional_db
):
    """The worker's 8 shared activity threads all taken (a slow mailer, the archive) for the whole
    test, longer than the local publish's 8 s: the opening is still written at once, locally, on threads of its
    own. Queued behind them, it ran out of time and went to the task path, which waited too."""
    release = threading.Event()
    held = [temporal.executor.submit(release.wait, 60) for _ in range(8)]  # until the test ends
    try:
        with temporal.worker(portal_activities=PORTAL_ACTIVITIES) as queue:
            handle = start_loan(temporal, queue)
            gate = wait_for_gate(temporal, handle, timeout=30)
            # Queued behind the shared threads, the row could not be written before they are let
            # go, in the `finally` below: the margin is the whole wait, not a race with a timer.
            wait_for_row(gate.gate_id, timeout=20)
            wait_for_event(temporal, handle, "TIMER_STARTED")
            assert (PUBLISH_LOCAL_ACTIVITY, 1) in local_calls(temporal, handle)
            assert PUBLISH_CHANGE_ACTIVITY not in activity_names(temporal, handle)
            assert not any(thread.done() for thread in held)
            temporal.run(handle.terminate("test done"))
    finally:
        release.set()


def test_tries_given_up_before_an_opening_thread_took_them_are_never_written(
    temporal, transactional_db, monkeypatch
):
    """The opening threads all held past the local publish's 8 s (a database that hangs): its
    tries, given up while they waited in the pool's queue, are dropped from it, not written one
    after another once the threads are free; the opening goes by the task path."""
    release, written_by = threading.Event(), []
    for _ in range(worker_activities.OPENING_THREADS):
        worker_activities._openings.submit(release.wait, 30)
    write = worker_activities.publish_opening

    def noting_the_thread(publication):
        written_by.append(threading.current_thread().name)
        return write(publication)

    monkeypatch.setattr(worker_activities, "publish_opening", noting_the_thread)
    try:
        with temporal.worker(portal_activities=PORTAL_ACTIVITIES) as queue:
            handle = start_loan(temporal, queue)
            gate = wait_for_gate(temporal, handle, timeout=30)
            wait_for_row(gate.gate_id, timeout=20)
            assert PUBLISH_CHANGE_ACTIVITY in activity_names(temporal, handle)
            temporal.run(handle.terminate("test done"))
    finally:
        release.set()
    worker_activities._openings.submit(lambda: None).result(10)  # behind whatever was queued

    assert written_by == []


def test_the_local_publish_scheduled_as_a_task_is_refused_before_it_takes_an_opening_thread(
    temporal, worker, monkeypatch
):
    """Anyone who may start a workflow in the namespace can schedule the local publish as an
    activity task on the portal's queue: it is refused as not local, before it takes one of the
    worker's opening threads, whether the gate is another run's or the forger's own, and the
    projection is unchanged."""
    from tests.agents.forger import GateForger  # noqa: F401 (the forger's workflow)
    from tests.test_gate_publication import forge

    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)
    row = wait_for_row(gate.gate_id)
    written: list[str] = []
    publish = worker_activities.publish_opening
    monkeypatch.setattr(
        worker_activities,
        "publish_opening",
        lambda publication: written.append(publication.snapshot.gate_id) or publish(publication),
    )
    forged = {**json.loads(json.dumps(row.snapshot)), "status": "approved", "version": 9}
    own_id = f"forger-{uuid.uuid4().hex[:8]}"
    own = {**forged, "workflow_id": own_id, "gate_id": f"{own_id}--g1", "version": 1, "status": "pending"}

    answers = [
        forge(temporal, "default", worker, snapshot, workflow_id=workflow_id, activity=PUBLISH_LOCAL_ACTIVITY)
        for snapshot, workflow_id in ((forged, f"forger-{uuid.uuid4().hex[:8]}"), (own, own_id))
    ]

    for answer in answers:
        assert answer.startswith("refused") and "runs only as a local activity" in answer, answer
    assert written == []
    row.refresh_from_db()
    assert (row.status, row.version) == ("pending", 1)
    assert not Gate.objects.filter(gate_id=f"{own_id}--g1").exists()
    temporal.run(handle.terminate("test done"))


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


def test_a_worker_stopping_waits_for_the_openings_being_written(monkeypatch):
    """`run_worker` ends with os._exit once its workers stopped: an opening whose try the SDK gave
    up (at its limit, or as the worker shut down) while the write was under way is let finish, its
    announcement with it, before the process goes."""
    finished = threading.Event()

    def slow_write(publication):
        time.sleep(0.5)
        finished.set()
        return True, None

    monkeypatch.setattr(worker_activities, "publish_opening", slow_write)

    local = ActivityEnvironment()
    local.info = replace(local.info, is_local=True)

    async def begin_then_give_up() -> None:
        trying = asyncio.ensure_future(local.run(worker_activities.publish_gate_change_local, None))
        await asyncio.sleep(0.1)
        trying.cancel()

    asyncio.run(begin_then_give_up())
    assert not finished.is_set()
    assert worker_activities.wait_for_openings(5) and finished.is_set()


@pytest.mark.parametrize("threads", ["0", "-1", "33", "100000"])
def test_no_threads_or_too_many_for_openings_are_refused_when_the_settings_are_read(threads):
    """Zero threads would leave every opening to time out into the task path; each thread may hold
    a database connection, so thousands would take PostgreSQL's connections from the portal.
    Refused at start, in every process, with the setting's name."""
    checked = manage_py("check", env={**os.environ, "GATE_OPENING_THREADS": threads})
    assert checked.returncode != 0
    assert "GATE_OPENING_THREADS must be from 1 to 32" in checked.stderr


def test_the_most_threads_for_openings_are_taken():
    checked = manage_py("check", env={**os.environ, "GATE_OPENING_THREADS": "32"})
    assert checked.returncode == 0, checked.stderr

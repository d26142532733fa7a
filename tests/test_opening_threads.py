"""The local publish's own threads (reviewer_portal/inbox/worker_activities.py): a gate's opening
is written on threads of its own, apart from the worker's shared activity threads; tries given up
while queued are dropped; the activity refuses to run as a task; a stopping worker lets the writes
under way finish; and the setting that sizes them is bounded."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
from dataclasses import replace

import pytest
from temporalio.testing import ActivityEnvironment

from agents.framework.contract import PUBLISH_CHANGE_ACTIVITY, PUBLISH_LOCAL_ACTIVITY
from agents.framework.gate_changes import GatePublication
from reviewer_portal.inbox import worker_activities
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from tests.conftest import activity_names, manage_py, start_loan, wait_for_gate
from tests.test_local_publish import wait_for_event, wait_for_row
from tests.test_local_tools import local_calls


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
    # Not vacuous: a try the threads take now goes through the function watched above.
    local = ActivityEnvironment()
    local.info = replace(local.info, is_local=True)
    asyncio.run(local.run(worker_activities.publish_gate_change_local, GatePublication()))
    assert len(written_by) == 1 and written_by[0].startswith("local-publish")


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


def test_a_worker_stopping_waits_for_the_openings_being_written(monkeypatch):
    """`run_worker` ends with os._exit once its workers stopped: an opening whose try the SDK gave
    up (at its limit, or as the worker shut down) while the write was under way is let finish, its
    announcement with it, before the process goes."""
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow_write(publication):
        started.set()
        release.wait(10)  # until the try has been given up
        finished.set()
        return True, None

    monkeypatch.setattr(worker_activities, "publish_opening", slow_write)

    local = ActivityEnvironment()
    local.info = replace(local.info, is_local=True)

    async def begin_then_give_up() -> None:
        trying = asyncio.ensure_future(local.run(worker_activities.publish_gate_change_local, None))
        # Given up once the write is under way: a try cancelled while still queued is dropped
        # (the test above), and on a loaded machine a thread can take longer than any fixed pause.
        assert await asyncio.to_thread(started.wait, 10)
        trying.cancel()

    asyncio.run(begin_then_give_up())
    assert not finished.is_set()
    release.set()
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

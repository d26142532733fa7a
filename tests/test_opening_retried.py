"""A gate's opening task retried after its local publish committed (the worker died, or a bug later
in the same task failed it): the projection's row keeps the time reviewers first saw the gate, and
the run takes that time for its gate and its SLA timer (patch `first-seen-opening`), so the
inbox's badge, the run's timer, the audit trail and the AI Act record all say one opening time.

The fault is real: a worker whose workflow task fails once, just after the local publish wrote
the row (a function of the shared framework raising once, which reaches the workflow because the
worker runs the shared sandbox), and a retried task that publishes again at its own later time.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.testing import ActivityEnvironment

import agents.framework.gates as gates
from agents.framework.contract import PUBLISH_LOCAL_ACTIVITY
from agents.framework.gate_changes import GatePublication, LocalPublication
from agents.framework.sla import first_seen_opening, first_seen_shift
from agents.framework.types import GateSnapshot
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox import openings, worker_activities
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.projection import gate_apply_snapshot
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from tests import actions
from tests.conftest import loan_input, record_history, start_loan, wait_for_gate
from tests.test_gate_rules import gate
from tests.test_local_publish import trail_of, wait_for_event, wait_for_row

OFFICER = ["credit_officer"]
RETRY_LATER = timedelta(seconds=1)


class TaskFailsOnceAfterTheWrite:
    """The local publish as the worker runs it, noting its write; and `gates.warning_time`, which
    the run asks just after the publish in the same workflow task, raising once after that write:
    the task fails and the server retries it, as after a worker killed at that moment."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.written = threading.Event()
        self.failed = threading.Event()
        real_warning_time = gates.warning_time

        def warning_time(gate: GateSnapshot, policy):  # type: ignore[no-untyped-def]
            if self.written.is_set() and not self.failed.is_set():
                self.failed.set()
                time.sleep(RETRY_LATER.total_seconds())  # so the retry's clock is well apart
                raise RuntimeError("the worker died after the local publish committed")
            return real_warning_time(gate, policy)

        monkeypatch.setattr(gates, "warning_time", warning_time)

    def activities(self) -> list:
        written = self.written

        @activity.defn(name=PUBLISH_LOCAL_ACTIVITY)
        async def publish_locally(publication: GatePublication) -> LocalPublication:
            answer = await worker_activities.publish_gate_change_local(publication)
            written.set()
            return answer

        others = [a for a in PORTAL_ACTIVITIES if a.__name__ != "publish_gate_change_local"]
        return [publish_locally, *others]


def test_a_run_whose_opening_task_is_retried_keeps_the_time_reviewers_first_saw_its_gate(
    temporal, transactional_db, monkeypatch
):
    fault = TaskFailsOnceAfterTheWrite(monkeypatch)
    with temporal.worker(portal_activities=fault.activities(), sandbox="shared") as queue:
        handle = start_loan(temporal, queue)
        kinds = wait_for_event(temporal, handle, "TIMER_STARTED", timeout=30)
        gate = wait_for_gate(temporal, handle)
        row = wait_for_row(gate.gate_id)

        assert fault.failed.is_set() and "WORKFLOW_TASK_FAILED" in kinds
        history = temporal.run(handle.fetch_history())
        retried = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED][
            -1
        ]
        # The retry opened the gate again, later than the row was written...
        assert retried.event_time.ToDatetime(tzinfo=row.opened_at.tzinfo) - row.opened_at >= RETRY_LATER
        # ...and the run took the row's time for its gate and its SLA clock: one opening time.
        assert (gate.opened_at, gate.deadline) == (row.opened_at, row.deadline)
        assert gate.deadline - gate.opened_at == timedelta(seconds=gate.sla_seconds)
        # The timer was set from the run's clock when the local publish answered (the SDK moves the
        # clock to the local activity's completion, which its marker records).
        timer = next(e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED)
        fires_at = (
            published_at(history) + timer.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        )
        policy_warns_at = gates.warning_time(gate, _loan_policy())
        assert abs(fires_at - min(t for t in (gate.deadline, policy_warns_at) if t)) < RETRY_LATER / 4
        # The trail shows the gate opened once, at that time.
        opened = [e for e in trail_of(temporal, handle) if e.kind == "gate"]
        assert [e.title for e in opened] == ["Gate opened for Credit officer (recommendation: approve)"]
        shown = {k: datetime.fromisoformat(opened[0].data[k]) for k in ("opened_at", "deadline")}
        assert shown == {"opened_at": row.opened_at, "deadline": row.deadline}
        said = [e.title for e in trail_of(temporal, handle) if e.title.startswith("Opening task retried")]
        assert said == [
            "Opening task retried: the gate keeps the time reviewers first saw it, "
            f"{row.opened_at.isoformat()} (the retry opened it again at {retried_opening(temporal, history)})"
        ]

        actions.decide(temporal, handle, gate.gate_id, "approve", "Affordable", "officer", OFFICER)
        result = temporal.run(handle.result())

    assert result.outcome == "approved"
    assert result.gate.opened_at == row.opened_at
    decided = Gate.objects.get(gate_id=gate.gate_id)
    assert (decided.status, decided.opened_at, decided.deadline) == ("approved", row.opened_at, row.deadline)
    record_history(temporal, handle, "loan_opening_retried_first_seen")


def _loan_policy():
    from agents.framework.registry import AGENTS

    policy = AGENTS["loans"].pin().gate
    assert policy is not None
    return policy


def published_at(history) -> datetime:
    """When the local publish's answer reached the run, as its marker records it."""
    for event in history.events:
        marker = event.marker_recorded_event_attributes
        if event.HasField("marker_recorded_event_attributes") and "data" in marker.details:
            data = json.loads(marker.details["data"].payloads[0].data)
            if data.get("activity_type") == PUBLISH_LOCAL_ACTIVITY:
                done = data["complete_time"]
                return datetime.fromtimestamp(done["seconds"] + done.get("nanos", 0) / 1e9, tz=UTC)
    raise AssertionError("no local publish in the history")


def retried_opening(temporal, history) -> str:
    """The opening time the retry's publication carried, as the local publish's marker keeps it."""
    for event in history.events:
        marker = event.marker_recorded_event_attributes
        if event.HasField("marker_recorded_event_attributes") and "result" in marker.details:
            [answer] = temporal.run(temporal.client.data_converter.decode(marker.details["result"].payloads))
            if isinstance(answer, dict) and "publication" in answer:
                return answer["publication"]["snapshot"]["opened_at"]
    raise AssertionError("no local publish in the history")


def test_a_row_planted_under_the_gate_id_is_not_this_opening_and_moves_no_clock(
    temporal, portal_settings, worker, caplog
):
    """A row waiting at the gate's id and version 1 that the run did not write (a workflow of
    another namespace planting it, a hand-written row), opened a little earlier: its content is
    not this opening's, so the run keeps its own time and its trail says nothing of a retry. The
    row, which no run is recorded to have written, takes the running run's gate in its place
    (reviewer_portal.inbox.set_back), and the log says so."""
    workflow_id = f"loan-test-{uuid.uuid4().hex[:12]}"
    planted = gate(
        gate_id=f"{workflow_id}--g1",
        workflow_id=workflow_id,
        opened_at=timezone.now() - timedelta(seconds=10),
        deadline=timezone.now() + timedelta(minutes=5),
        sla_seconds=310,
    )
    assert gate_apply_snapshot(snapshot=planted)
    handle = temporal.run(
        temporal.client.start_workflow(AgentWorkflow.run, loan_input(), id=workflow_id, task_queue=worker)
    )
    opened = wait_for_gate(temporal, handle)
    wait_for_event(temporal, handle, "TIMER_STARTED")
    row = Gate.objects.get(gate_id=opened.gate_id)

    assert (row.opened_at, row.deadline) == (opened.opened_at, opened.deadline)
    assert "set back" in caplog.text
    assert opened.opened_at > planted.opened_at + timedelta(seconds=5)
    assert opened.deadline - opened.opened_at == timedelta(seconds=opened.sla_seconds)
    trail = trail_of(temporal, handle)
    shown = [e.data for e in trail if e.kind == "gate"]
    assert [datetime.fromisoformat(d["opened_at"]) for d in shown] == [opened.opened_at]
    assert not [e for e in trail if e.title.startswith("Opening task retried")]
    temporal.run(handle.terminate("test done"))


def test_any_earlier_time_of_the_same_opening_is_taken_and_a_long_outage_leaves_it_due_at_once():
    opened = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    hour = gate(opened_at=opened, deadline=opened + timedelta(hours=1), sla_seconds=3600)

    def taken(earlier: timedelta) -> GateSnapshot | None:
        return first_seen_opening(hour, opened - earlier)

    seconds = taken(timedelta(seconds=10))
    assert seconds is not None
    assert (seconds.opened_at, seconds.deadline) == (
        opened - timedelta(seconds=10),
        hour.deadline - timedelta(seconds=10),
    )
    # The opening task failed for five hours (workers down): the gate was overdue four hours ago,
    # as the inbox showed it; the run's timer fires at once, as it would have for the first try.
    outage = taken(timedelta(hours=5))
    assert outage is not None and outage.deadline == opened - timedelta(hours=4)
    assert taken(timedelta(0)) is None  # the run's own write
    assert taken(timedelta(seconds=-10)) is None  # later than the run's own: not an earlier try
    assert first_seen_shift(opened, opened - timedelta(seconds=1)) == timedelta(seconds=1)
    # Not an opening: a gate carried across a continue-as-new and published whole.
    for carried in (
        replace(hour, version=3),
        replace(hour, escalation_level=1),
        replace(hour, revisions=[revision()]),
    ):
        assert first_seen_opening(carried, opened - timedelta(seconds=10)) is None


def revision():
    from agents.framework.types import Recommendation, Revision

    return Revision(
        Recommendation("refer", "check"), "officer", "look again", datetime(2026, 11, 28, tzinfo=UTC)
    )


def test_the_local_publish_answers_the_time_the_same_opening_was_first_written(transactional_db, monkeypatch):
    """First try: written, nothing to add. A retry at a later time: the first try's time. The
    same gate id with other content (planted, or another run's), or a row at a later version (a
    claim or decision applied since): nothing, since that is not this opening's row."""
    local = ActivityEnvironment()
    local.info = replace(local.info, is_local=True, workflow_id="loan-f4", namespace="default")
    first = gate(gate_id="loan-f4--g1", workflow_id="loan-f4")
    later = timedelta(seconds=9)
    retry = replace(first, opened_at=first.opened_at + later, deadline=first.deadline + later)

    looked: list[str] = []
    look = openings.first_seen_of
    monkeypatch.setattr(
        openings, "first_seen_of", lambda opening: looked.append(opening.gate_id) or look(opening)
    )

    def publish(snapshot: GateSnapshot) -> LocalPublication:
        return asyncio.run(
            # Named by its run's chain, as the workflow names it (a test's run has no chain to ask for).
            local.run(
                worker_activities.publish_gate_change_local, GatePublication(snapshot=snapshot, chain="f4")
            )
        )

    assert publish(first).first_seen is None
    assert looked == []  # written by this try: no earlier time to read back
    answer = publish(retry)
    assert looked == ["loan-f4--g1"]
    assert (answer.in_sync, answer.first_seen, answer.publication.snapshot) == (True, first.opened_at, retry)
    other = replace(retry, recommendation=replace(retry.recommendation, outcome="decline"))
    assert publish(other).first_seen is None
    assert publish(replace(retry, subject="another case")).first_seen is None
    Gate.objects.filter(gate_id="loan-f4--g1").update(version=3)
    assert publish(retry).first_seen is None

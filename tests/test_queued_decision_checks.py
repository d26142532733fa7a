"""A decision queued while the agents' worker was down is sent later only while the gate is still as
its reviewer decided it (reviewer_portal.inbox.resend_checks), on the real dev server with a real
worker stopped and started.

The run checks what it can when the decision arrives (the recommendation's revision, who holds the
gate, the role, four eyes). It cannot know what the portal showed the reviewer, so before these
checks a queued decision went out after a colleague's note, or (made in bulk) after the agent's
rules flagged the gate, and a queued claim made an absent reviewer the holder again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.utils import timezone

from agents.framework.contract import ALL_GATES_QUERY
from agents.framework.types import GateSnapshot
from reviewer_portal.inbox import delivery, flag_refresh, redelivery, sending
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.outcomes import outcome_text
from reviewer_portal.inbox.services import gate_annotate, gate_assign
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from reviewer_portal.team.services import absence_mark
from tests.conftest import decide, logged_in, make_user, projected_gate, start_loan
from tests.outage import TIMEOUT_SECONDS, bulk_form

HTMX = {"HX-Request": "true"}
QUEUED = "Your approval is recorded and will be sent"
NEW_RULE = "Income not verified by a payslip"


@pytest.fixture
def officer(portal_settings):
    return make_user("officer", "credit_officer")


@pytest.fixture
def colleague(portal_settings):
    return make_user("colleague", "credit_officer")


def a_supervisor():
    """A supervisor of the credit officers, who marks absences."""
    return make_user("senior", "senior_credit_officer")


def wait_until(condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.2)


def queued_in_bulk(officer, gate: Gate) -> None:
    """The officer approves `gate` from the inbox's bulk form while the worker is down."""
    response = logged_in(officer).post("/bulk/", bulk_form([gate], str(uuid.uuid4())), headers=HTMX)
    assert QUEUED in response.content.decode()
    assert set(ActionAttempt.objects.filter(gate=gate).values_list("status", flat=True)) == {"undelivered"}


@contextmanager
def worker_back(settings, temporal, queue: str) -> Iterator[None]:
    """The agents' worker runs again."""
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = 15  # a new worker first waits out the old sticky queue
    with temporal.worker(queue, portal_activities=PORTAL_ACTIVITIES):
        yield


def delivery_pass() -> dict[str, ActionAttempt]:
    """One pass of the delivery loop: what it made of each action, by action."""
    return {attempt.action: attempt for attempt in redelivery.actions_redeliver()}


def run_gate(temporal, handle) -> dict:
    """The gate as the run itself holds it."""
    [gate] = temporal.run(handle.query(ALL_GATES_QUERY, result_type=list[GateSnapshot]))
    return {"status": gate.status, "assignee": gate.assignee}


def test_a_queued_bulk_approval_is_not_sent_after_a_colleagues_note(
    settings, temporal, officer, colleague, gates_without_worker
):
    queue, handles, gates = gates_without_worker
    queued_in_bulk(officer, gates[0])

    with worker_back(settings, temporal, queue):
        note = gate_annotate(
            gate=gates[0],
            reviewer=colleague,
            text="Applicant called: income fell.",
            submission_id=str(uuid.uuid4()),
        )
        assert note.status == "accepted"
        handled = delivery_pass()
        held = run_gate(temporal, handles[0])

    assert handled["assign"].status == "accepted"  # the claim: nothing the note changes
    decision = handled["decide"]
    assert decision.status == "refused"
    assert decision.detail == (
        "Since you decided, the gate changed (a colleague's note), so the portal did not send your "
        "decision: open the gate to see what changed, and decide again."
    )
    assert held == {"status": "pending", "assignee": "officer"}  # theirs to decide


def test_a_queued_approval_goes_after_the_reviewers_own_note_and_the_claim_it_waited_for(
    settings, temporal, officer, gates_without_worker
):
    queue, handles, gates = gates_without_worker
    queued_in_bulk(officer, gates[0])

    with worker_back(settings, temporal, queue):
        note = gate_annotate(
            gate=gates[0], reviewer=officer, text="Checked the payslips.", submission_id=str(uuid.uuid4())
        )
        assert note.status == "accepted"
        handled = delivery_pass()
        result = temporal.run(handles[0].result())

    assert {action: a.status for action, a in handled.items()} == {"assign": "accepted", "decide": "accepted"}
    assert (result.outcome, result.gate.decided_by) == ("approved", "officer")


def test_a_queued_bulk_approval_is_not_sent_once_a_release_of_the_agents_rules_flags_the_gate(
    settings, temporal, officer, gates_without_worker, monkeypatch
):
    queue, handles, gates = gates_without_worker
    queued_in_bulk(officer, gates[0])
    monkeypatch.setattr(flag_refresh, "flags_of", lambda agent, case, tool_results: [NEW_RULE])
    assert flag_refresh.refresh_pending_flags() == len(gates)  # what `migrate` does at a release

    with worker_back(settings, temporal, queue):
        handled = delivery_pass()
        held = run_gate(temporal, handles[0])

    assert handled["decide"].status == "refused"
    assert "the gate changed (its flags or eligibility for a bulk decision)" in handled["decide"].detail
    assert held["status"] == "pending"


def test_a_decision_from_the_gates_own_page_is_still_sent_once_the_rules_flag_it(
    settings, temporal, officer, portal_settings, monkeypatch
):
    """A flag asks for a reviewer's own look at the gate, which a decision on its page was."""
    with temporal.worker(portal_activities=PORTAL_ACTIVITIES) as queue:
        settings.TEMPORAL_TASK_QUEUE = queue
        handle = start_loan(temporal, queue)
        gate = projected_gate(handle)
        claim = gate_assign(gate=gate, reviewer=officer, assignee=officer, submission_id=str(uuid.uuid4()))
        assert claim.status == "accepted"
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = TIMEOUT_SECONDS
    response = decide(
        logged_in(officer), Gate.objects.get(pk=gate.pk), reason="Affordable on verified income."
    )
    assert "will be sent" in response.content.decode()
    monkeypatch.setattr(flag_refresh, "flags_of", lambda agent, case, tool_results: [NEW_RULE])
    assert flag_refresh.refresh_pending_flags() == 1

    with worker_back(settings, temporal, queue):
        handled = delivery_pass()
        result = temporal.run(handle.result())

    assert handled["decide"].status == "accepted"
    assert result.gate.decided_by == "officer"


def test_a_queued_claim_of_a_reviewer_marked_absent_since_is_refused_once_no_copy_can_arrive(
    settings, temporal, officer, gates_without_worker, monkeypatch
):
    """Marking them absent released what they held; a claim queued before (Temporal out of reach,
    so no copy of it was ever handed over) must not make them the holder again. It is withdrawn by
    the portal, refused once the signature's time is up; the approval behind it is then refused by
    the run (only the holder decides), and the gate waits in the queue for a colleague."""
    queue, handles, gates = gates_without_worker

    async def unreachable(gate, action, envelope):
        raise TimeoutError

    monkeypatch.setattr(sending, "_execute", unreachable)
    queued_in_bulk(officer, gates[0])
    monkeypatch.undo()
    absence_mark(
        user=officer, marked_by=a_supervisor(), reason="Leave", until=None, submission_id=str(uuid.uuid4())
    )

    with worker_back(settings, temporal, queue):
        first = delivery_pass()
        claim = ActionAttempt.objects.get(action="assign")
        assert first["assign"].status == "withdrawing" and "decide" not in first  # behind it
        assert outcome_text(claim).startswith("Your claim is held back. You are marked absent (since ")
        ActionAttempt.objects.filter(pk=claim.pk).update(in_flight_until=timezone.now())  # time is up
        second = delivery_pass()
        held = run_gate(temporal, handles[0])

    assert second["assign"].status == "refused"
    assert second["assign"].detail.startswith("You are marked absent (since ")
    assert second["decide"].status == "refused"
    assert second["decide"].detail.startswith("Claim this gate to decide it")
    assert held == {"status": "pending", "assignee": ""}


def test_a_held_back_claim_whose_earlier_copy_reached_the_agent_is_recorded_as_accepted(
    settings, temporal, officer, gates_without_worker
):
    """The worker was down, so Temporal held the claim's first copy and gave it to the worker on
    its return: the portal cannot take it back, and its record says what the run did."""
    queue, handles, gates = gates_without_worker
    queued_in_bulk(officer, gates[0])
    absence_mark(
        user=officer, marked_by=a_supervisor(), reason="Leave", until=None, submission_id=str(uuid.uuid4())
    )

    with worker_back(settings, temporal, queue):
        assert delivery_pass()["assign"].status == "withdrawing"
        wait_until(lambda: run_gate(temporal, handles[0])["assignee"] == "officer")  # the copy, applied
        ActionAttempt.objects.filter(action="assign").update(in_flight_until=timezone.now())
        handled = delivery_pass()
        result = temporal.run(handles[0].result())

    assert (handled["assign"].status, handled["assign"].detail) == ("accepted", delivery.LATE)
    assert handled["decide"].status == "accepted"  # made before the absence, by the holder
    assert result.gate.decided_by == "officer"


def test_a_decision_queued_before_these_checks_is_sent_as_it_was(
    settings, temporal, officer, colleague, gates_without_worker
):
    """Recorded by a portal from before (nothing kept of what its reviewer saw): sent unchecked,
    the run's own checks alone, as before the release."""
    queue, _, gates = gates_without_worker
    queued_in_bulk(officer, gates[0])
    assert ActionAttempt.objects.filter(action="decide").update(seen=None) == 1

    with worker_back(settings, temporal, queue):
        gate_annotate(gate=gates[0], reviewer=colleague, text="Fine by me.", submission_id=str(uuid.uuid4()))
        handled = delivery_pass()

    assert handled["decide"].status == "accepted"

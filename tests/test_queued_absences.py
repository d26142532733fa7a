"""A claim, assignment or decision queued while the agents' worker was down, whose reviewer (or
assignee) is marked absent before it is sent (reviewer_portal.inbox.resend_checks), on the real dev
server with a real worker stopped and started.

Marking someone absent releases what they hold, and the team view offers only those present. A
queued claim or assignment used to make the absent reviewer the holder again once the worker was
back (the projection showed no holder when the absence was marked, so nothing released it). Now
the portal stops sending it: refused once no earlier copy can reach the run, or, when Temporal held
a copy the worker took on its return, recorded as accepted, which is what the run did.
"""

from __future__ import annotations

import time
import uuid

import pytest
from django.utils import timezone

from reviewer_portal.inbox import delivery, redelivery, sending
from reviewer_portal.inbox.models import ActionAttempt
from reviewer_portal.inbox.outcomes import outcome_text
from reviewer_portal.inbox.services import gate_assign
from reviewer_portal.team.services import absence_mark
from tests.conftest import make_user
from tests.outage import (
    GATES,
    TIMEOUT_SECONDS,
    delivery_pass,
    queued_in_bulk,
    run_gate,
    wait_until,
    worker_back,
)


@pytest.fixture
def officer(portal_settings):
    return make_user("officer", "credit_officer")


@pytest.fixture
def senior(portal_settings):
    """A supervisor of the credit officers, who marks absences and assigns gates."""
    return make_user("senior", "senior_credit_officer")


@pytest.fixture
def temporal_unreachable(monkeypatch):
    """Updates fail before reaching Temporal (no copy is ever handed over) until `undo()`."""

    async def unreachable(gate, action, envelope):
        raise TimeoutError

    monkeypatch.setattr(sending, "_execute", unreachable)
    return monkeypatch


def absent(officer, senior) -> None:
    absence_mark(user=officer, marked_by=senior, reason="Leave", until=None, submission_id=str(uuid.uuid4()))


def time_is_up(action: str) -> None:
    """As if the signature's time had passed (MAX_AGE and the skew): no earlier copy can arrive."""
    ActionAttempt.objects.filter(action=action).update(in_flight_until=timezone.now())


def test_a_queued_claim_of_a_reviewer_marked_absent_since_is_refused_once_no_copy_can_arrive(
    settings, temporal, officer, senior, gates_without_worker, temporal_unreachable
):
    """The claim is held, then refused once the signature's time is up; the approval behind it is
    refused by the portal too, in words the absent reviewer can act on, and the gate waits in
    the queue for a colleague."""
    queue, handles, gates = gates_without_worker
    queued_in_bulk(officer, gates[0])
    temporal_unreachable.undo()
    absent(officer, senior)

    with worker_back(settings, temporal, queue):
        first = delivery_pass()
        claim = ActionAttempt.objects.get(action="assign")
        assert first["assign"].status == "held" and "decide" not in first  # the decision waits behind it
        assert outcome_text(claim).startswith("You are marked absent (since ")
        assert "so the portal stopped sending your claim" in outcome_text(claim)
        assert "A copy sent earlier could still reach the agent" in outcome_text(claim)
        assert "(until about " in outcome_text(claim)
        time_is_up("assign")
        claim.refresh_from_db()
        assert "did not (while the agent is out of reach)." in outcome_text(claim)  # no time gone by
        second = delivery_pass()
        held = run_gate(temporal, handles[0])

    assert second["assign"].status == "refused"
    assert second["assign"].detail.startswith("You are marked absent (since ")
    assert second["decide"].status == "refused"
    assert "and do not hold this gate, so the portal stopped sending your decision" in second["decide"].detail
    assert held == {"status": "pending", "assignee": ""}


def test_a_held_claim_whose_earlier_copy_reached_the_agent_is_recorded_so_and_released(
    settings, temporal, officer, senior, gates_without_worker
):
    """The worker was down, so Temporal held the claim's first copy and gave it to the worker on
    its return: the portal cannot take it back, and its record says what the run did. The absent
    officer then held the gate, which marking them absent was to release, and their approval went
    on (from the review): the gate is released in the supervisor's name, and the approval, on a
    gate its absent reviewer no longer holds, is not sent."""
    queue, handles, gates = gates_without_worker
    queued_in_bulk(officer, gates[0])
    absent(officer, senior)

    with worker_back(settings, temporal, queue):
        assert delivery_pass()["assign"].status == "held"
        wait_until(lambda: run_gate(temporal, handles[0])["assignee"] == "officer")  # the copy, applied
        time_is_up("assign")
        handled = delivery_pass()
        held = run_gate(temporal, handles[0])

    assert (handled["assign"].status, handled["assign"].detail) == ("accepted", delivery.ARRIVED)
    release = ActionAttempt.objects.get(action="assign", reviewer=senior)
    assert (release.status, release.assignee_id, release.reason) == (
        "accepted",
        None,
        "officer is absent: Leave",
    )
    assert handled["decide"].status == "refused"
    assert "and do not hold this gate" in handled["decide"].detail
    assert held == {"status": "pending", "assignee": ""}


def test_a_queued_assignment_to_a_reviewer_marked_absent_since_is_not_sent(
    settings, temporal, officer, senior, gates_without_worker, temporal_unreachable
):
    """The supervisor's assignment, not the officer's own claim (from the review)."""
    queue, handles, gates = gates_without_worker
    assignment = gate_assign(
        gate=gates[0], reviewer=senior, assignee=officer, submission_id=str(uuid.uuid4())
    )
    assert assignment.status == "undelivered"
    temporal_unreachable.undo()
    absent(officer, senior)

    with worker_back(settings, temporal, queue):
        assert delivery_pass()["assign"].status == "held"
        time_is_up("assign")
        handled = delivery_pass()
        held = run_gate(temporal, handles[0])

    assert handled["assign"].status == "refused"
    assert handled["assign"].detail.startswith("officer is marked absent (since ")
    assert handled["assign"].detail.endswith("assign the gate to someone present.")
    assert held == {"status": "pending", "assignee": ""}


def test_holds_are_settled_at_once_so_a_worker_still_down_costs_a_pass_one_timeout(
    settings, temporal, officer, senior, gates_without_worker
):
    """Each hold past its time asks the run which actions it applied; with the worker still down
    each question waits out the timeout. They were settled one after another: four holds took
    four timeouts of every pass, before any other agent's queued action was sent (from the
    review). Still held (the run could not say), they are settled on a later pass."""
    _, _, gates = gates_without_worker
    for gate in gates:
        queued_in_bulk(officer, gate)
    absent(officer, senior)
    first = redelivery.actions_redeliver()
    assert sorted(a.status for a in first if a.action == "assign") == ["held"] * GATES
    time_is_up("assign")

    began = time.monotonic()
    settled = redelivery.actions_redeliver()
    took = time.monotonic() - began

    assert took < 3 * TIMEOUT_SECONDS, took  # one round of questions, not GATES of them in turn
    assert sorted(a.status for a in settled) == ["held"] * GATES

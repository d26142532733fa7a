"""A decision queued while the agents' worker was down is sent later only while the gate is still as
its reviewer decided it (reviewer_portal.inbox.resend_checks), on the real dev server with a real
worker stopped and started.

The run checks what it can when the decision arrives (the recommendation's revision, who holds the
gate, the role, four eyes). It cannot know what the portal showed the reviewer, so before these
checks a queued decision went out after a colleague's note, or (made in bulk) after the agent's
rules flagged the gate. Absences: tests/test_queued_absences.py.
"""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from django.utils import timezone

from agents.framework.contract import ALL_GATES_QUERY
from agents.framework.registry import AGENTS
from reviewer_portal.inbox import delivery, flag_refresh, publishing, redelivery
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.services import gate_annotate, gate_assign
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from tests.conftest import decide, logged_in, make_user, projected_gate, start_loan
from tests.outage import TIMEOUT_SECONDS, delivery_pass, queued_in_bulk, run_gate, wait_until, worker_back

NEW_RULE = "Income not verified by a payslip"


def released_with_a_new_rule(monkeypatch) -> None:
    """A release of the loans agent whose rules flag every gate (AgentSpec.flags), everywhere the
    portal works flags out (a projection write too)."""
    flagging = dataclasses.replace(AGENTS["loans"], flags=lambda case, results, made_by: [NEW_RULE])
    monkeypatch.setitem(AGENTS, "loans", flagging)


@pytest.fixture
def officer(portal_settings):
    return make_user("officer", "credit_officer")


@pytest.fixture
def colleague(portal_settings):
    return make_user("colleague", "credit_officer")


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
        "The gate changed since you decided (a colleague's note), so the portal stopped sending your "
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
    released_with_a_new_rule(monkeypatch)
    assert flag_refresh.refresh_pending_flags() == len(gates)  # what `migrate` does at a release

    with worker_back(settings, temporal, queue):
        handled = delivery_pass()
        held = run_gate(temporal, handles[0])

    assert handled["decide"].status == "refused"
    assert (
        "changed since you decided (its flags or eligibility for a bulk decision)" in handled["decide"].detail
    )
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
    released_with_a_new_rule(monkeypatch)
    assert flag_refresh.refresh_pending_flags() == 1

    with worker_back(settings, temporal, queue):
        handled = delivery_pass()
        result = temporal.run(handle.result())

    assert handled["decide"].status == "accepted"
    assert result.gate.decided_by == "officer"


def test_a_note_landing_while_the_pass_sends_the_claim_still_stops_the_decision(
    settings, temporal, officer, colleague, gates_without_worker, monkeypatch
):
    """A pass reads its actions' gates when it starts, then sends a gate's claim before its
    decision, which can take the whole Update timeout: the decision is checked against the gate
    as it is when it is sent, not as the pass read it (from the review: it was approved)."""
    queue, handles, gates = gates_without_worker
    queued_in_bulk(officer, gates[0])
    deliver = redelivery.action_deliver

    def a_colleague_notes_meanwhile(*, attempt, **how):
        delivered = deliver(attempt=attempt, **how)
        if attempt.action == "assign":
            gate = Gate.objects.get(pk=attempt.gate_id)
            note = gate_annotate(
                gate=gate, reviewer=colleague, text="Income fell.", submission_id=str(uuid.uuid4())
            )
            assert note.status == "accepted"
        return delivered

    monkeypatch.setattr(redelivery, "action_deliver", a_colleague_notes_meanwhile)
    with worker_back(settings, temporal, queue):
        handled = delivery_pass()
        held = run_gate(temporal, handles[0])

    assert handled["decide"].status == "refused"
    assert "(a colleague's note)" in handled["decide"].detail
    assert held["status"] == "pending"


def test_a_note_the_run_applied_but_the_projection_has_not_yet_is_still_seen(
    settings, temporal, officer, colleague, gates_without_worker, monkeypatch
):
    """The colleague's note was sent while the worker was down too: the run applies it on the
    worker's return, and its publish to the projection lags (a worker catching up on a backlog).
    The check asks the run itself, not the projection alone (from the review: it was approved)."""
    queue, handles, gates = gates_without_worker
    queued_in_bulk(officer, gates[0])
    note = gate_annotate(
        gate=gates[0], reviewer=colleague, text="Income fell.", submission_id=str(uuid.uuid4())
    )
    assert note.status == "undelivered"  # a copy admitted by Temporal, the worker down

    def lagging(publication):
        raise RuntimeError("the projection's write is not reached yet")

    monkeypatch.setattr(publishing, "apply_publication", lagging)
    with worker_back(settings, temporal, queue):
        wait_until(lambda: "Income fell." in str(temporal.run(handles[0].query(ALL_GATES_QUERY))))
        assert "Income fell." not in str(Gate.objects.get(pk=gates[0].pk).annotations)
        handled = delivery_pass()
        monkeypatch.undo()
        held = run_gate(temporal, handles[0])

    assert handled["decide"].status == "refused"
    assert "(a colleague's note)" in handled["decide"].detail
    assert held["status"] == "pending"


def test_a_decision_another_sender_is_handing_over_is_held_not_refused_on_a_stale_read(
    settings, temporal, officer, gates_without_worker, monkeypatch
):
    """Two senders (two delivery loops, or a loop and the same form again): one read the queued
    decision before the other marked it in flight. Refused on that stale read, the reviewer was
    told "not sent" while Temporal held a copy (from the review). The choice is made in the
    database: held, and settled once no copy can arrive."""
    queue, _, gates = gates_without_worker
    queued_in_bulk(officer, gates[0])
    stale = ActionAttempt.objects.select_related("gate", "reviewer").get(action="decide")
    assert stale.in_flight_until is None  # queued behind its claim, never sent
    in_flight = timezone.now() + delivery.MAX_AGE  # the other sender, about to hand a copy over
    ActionAttempt.objects.filter(pk=stale.pk).update(in_flight_until=in_flight)
    released_with_a_new_rule(monkeypatch)
    flag_refresh.refresh_pending_flags()

    with worker_back(settings, temporal, queue):
        held = delivery.action_deliver(attempt=stale, recheck=True)
        ActionAttempt.objects.filter(pk=stale.pk).update(in_flight_until=timezone.now())  # time is up
        settled = delivery_pass()["decide"]

    assert held.status == "held"
    assert "changed since you decided (its flags" in held.detail
    assert (settled.status, settled.detail) == ("refused", held.detail)  # no copy ever arrived


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

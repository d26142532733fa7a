"""A bulk decision while the agents' worker is down (reviewer_portal.inbox.services and
reviewer_portal.inbox.redelivery), on the real dev server with a real worker stopped and started:

- the request waits one Update timeout a round (claims, then decisions), not one a gate: 50 gates
  used to hold the reviewer for minutes;
- every approval is recorded before anything else happens, queued behind its claim on a gate only
  its holder may decide, and the result says it will be sent (it used to record the claim alone,
  so the approval was never made);
- the delivery loop sends one gate's actions in the order they were made, so a queued decision
  never overtakes the claim it needs (sent together, the run could take the decision first and
  refuse it for good);
- the same form sent again records nothing twice;
- a supervisor's releases (marking a reviewer absent) go out at once too.
"""

from __future__ import annotations

import threading
import time
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from agents.framework.contract import ASSIGN
from reviewer_portal.inbox import delivery, redelivery, sending
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.sending import Answer
from reviewer_portal.inbox.services import gate_assign
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from reviewer_portal.team.services import absence_mark
from tests.conftest import APPROVABLE, loan_input, logged_in, make_user, projected_gate, start_loan
from tests.outage import GATES, TIMEOUT_SECONDS, bulk_form


@pytest.fixture
def officer(portal_settings):
    return make_user("officer", "credit_officer")


HTMX = {"HX-Request": "true"}


def test_a_bulk_approval_while_the_worker_is_down_queues_every_approval_within_one_timeout(
    settings, temporal, officer, gates_without_worker
):
    queue, handles, gates = gates_without_worker
    client = logged_in(officer)
    form = bulk_form(gates, str(uuid.uuid4()))

    began = time.monotonic()
    response = client.post("/bulk/", form, headers=HTMX)
    took = time.monotonic() - began

    html = response.content.decode()
    assert response.status_code == 200
    # One round of claims at once, the decisions queued behind them: one timeout and the
    # request's own work (a loaded CI machine needs seconds), against at least GATES timeouts.
    assert took < 3 * TIMEOUT_SECONDS, took
    assert html.count("Your approval is recorded and will be sent") == GATES, html
    decisions = ActionAttempt.objects.filter(reviewer=officer, action="decide")
    claims = ActionAttempt.objects.filter(reviewer=officer, action="assign")
    assert sorted(a.gate_id for a in decisions) == sorted(g.gate_id for g in gates)
    assert {a.status for a in decisions} == {"undelivered"} and {a.status for a in claims} == {"undelivered"}
    assert all(a.reason == "Low risk, within policy." for a in decisions)

    # The same form again (a double click, a replayed request) records nothing twice.
    again = client.post("/bulk/", form, headers=HTMX)
    assert again.content.decode().count("Your approval is recorded and will be sent") == GATES
    assert ActionAttempt.objects.filter(reviewer=officer).count() == 2 * GATES

    # A new worker first waits out the old one's sticky queue (5 s), so allow the usual timeout.
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = 15
    out = StringIO()
    with temporal.worker(queue, portal_activities=PORTAL_ACTIVITIES):
        call_command("deliver_decisions", stdout=out)
        results = [temporal.run(handle.result()) for handle in handles]

    assert (
        out.getvalue().splitlines()[0]
        == f"Handled {2 * GATES} queued reviewer actions: {2 * GATES} accepted."
    )
    assert [(r.outcome, r.gate.decided_by) for r in results] == [("approved", "officer")] * GATES


def test_the_delivery_loop_sends_a_gates_decision_only_after_its_claim(
    settings, temporal, officer, gates_without_worker, monkeypatch
):
    """The claim is slow to arrive (held here for a second, as a loaded server might); the decision
    queued behind it must not be sent meanwhile."""
    queue, handles, gates = gates_without_worker
    response = logged_in(officer).post("/bulk/", bulk_form(gates[:1], str(uuid.uuid4())), headers=HTMX)
    assert "Your approval is recorded and will be sent" in response.content.decode()
    send = delivery.send
    sent: list[str] = []
    lock = threading.Lock()

    def claims_held_up(attempt, envelope):
        if attempt.action == ASSIGN:
            time.sleep(1)
        answer = send(attempt, envelope)
        with lock:
            sent.append(attempt.action)
        return answer

    monkeypatch.setattr(delivery, "send", claims_held_up)
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = 15
    with temporal.worker(queue, portal_activities=PORTAL_ACTIVITIES):
        handled = redelivery.actions_redeliver()
        result = temporal.run(handles[0].result())

    assert sent == ["assign", "decide"]
    assert sorted((a.action, a.status) for a in handled) == [("assign", "accepted"), ("decide", "accepted")]
    assert (result.outcome, result.gate.decided_by) == ("approved", "officer")


def test_a_decision_waits_while_its_claim_is_still_queued(
    settings, temporal, officer, gates_without_worker, monkeypatch
):
    """A pass in which the claim stays undelivered leaves the decision behind it unsent."""
    _, _, gates = gates_without_worker
    logged_in(officer).post("/bulk/", bulk_form(gates[:1], str(uuid.uuid4())), headers=HTMX)
    sent: list[str] = []
    send = delivery.send

    def recorded(attempt, envelope):
        sent.append(attempt.action)
        return send(attempt, envelope)

    monkeypatch.setattr(delivery, "send", recorded)
    handled = redelivery.actions_redeliver()  # the worker is still down

    assert sent == ["assign"]
    assert [(a.action, a.status) for a in handled] == [("assign", "undelivered")]  # only what was sent
    assert ActionAttempt.objects.get(action="decide").status == "undelivered"  # kept, behind its claim


def test_a_decision_waits_while_another_process_is_sending_its_claim(
    temporal, officer, gates_without_worker, monkeypatch
):
    """Its claim is `sending` right now elsewhere (the same form sent again, a second delivery
    loop): the decision is not due until that claim is answered."""
    _, _, gates = gates_without_worker
    logged_in(officer).post("/bulk/", bulk_form(gates[:1], str(uuid.uuid4())), headers=HTMX)
    ActionAttempt.objects.filter(action="assign").update(status="sending", updated_at=timezone.now())
    sent: list[str] = []
    monkeypatch.setattr(delivery, "send", lambda attempt, envelope: sent.append(attempt.action))

    handled = redelivery.actions_redeliver()

    assert sent == [] and handled == []
    assert ActionAttempt.objects.get(action="decide").status == "undelivered"


def test_marking_a_reviewer_absent_while_the_worker_is_down_queues_each_release_within_one_timeout(
    settings, temporal, portal_settings, officer
):
    """The supervisor's releases of the absent reviewer's claims go out at once, as the bulk
    decision's do; each is queued, and delivered once a worker runs again."""
    senior = make_user("senior", "senior_credit_officer")
    with temporal.worker(portal_activities=PORTAL_ACTIVITIES) as queue:
        settings.TEMPORAL_TASK_QUEUE = queue
        handles = [start_loan(temporal, queue, loan_input(APPROVABLE)) for _ in range(GATES)]
        for handle in handles:
            claim = gate_assign(
                gate=projected_gate(handle),
                reviewer=officer,
                assignee=officer,
                submission_id=str(uuid.uuid4()),
            )
            assert claim.status == "accepted"
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = TIMEOUT_SECONDS

    began = time.monotonic()
    _, outcomes = absence_mark(
        user=officer, marked_by=senior, reason="Leave", until=None, submission_id=str(uuid.uuid4())
    )
    took = time.monotonic() - began

    assert took < 3 * TIMEOUT_SECONDS, took
    assert [o.attempt.status for o in outcomes if o.attempt] == ["undelivered"] * GATES
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = 15
    with temporal.worker(queue, portal_activities=PORTAL_ACTIVITIES):
        handled = redelivery.actions_redeliver()
    assert [a.status for a in handled] == ["accepted"] * GATES
    assert set(
        Gate.objects.filter(workflow_id__in=[h.id for h in handles]).values_list("assignee", flat=True)
    ) == {""}
    for handle in handles:
        temporal.run(handle.terminate("test done"))


def test_decisions_held_behind_their_claims_take_no_place_in_a_pass(
    temporal, officer, gates_without_worker, monkeypatch
):
    """A pass takes the actions of its oldest gates, not its oldest rows: a decision held behind its
    claim used one of a pass's places and was never sent, and a colleague's later note on another
    gate waited behind it for the whole outage (from the review)."""
    _, _, gates = gates_without_worker
    client = logged_in(officer)
    client.post("/bulk/", bulk_form(gates[:1], str(uuid.uuid4())), headers=HTMX)
    note = client.post(
        f"/gates/{gates[1].gate_id}/annotate/",
        {"text": "Called.", "submission_id": str(uuid.uuid4())},
        headers=HTMX,
    )
    assert "Your note is recorded and will be sent." in note.content.decode()
    monkeypatch.setattr(redelivery, "MAX_PER_PASS", 2)
    sent: list[str] = []
    monkeypatch.setattr(
        delivery, "send", lambda attempt, envelope: sent.append(attempt.action) or Answer("undelivered")
    )

    handled = redelivery.actions_redeliver()

    assert sorted(sent) == ["annotate", "assign"]
    assert sorted(a.action for a in handled) == ["annotate", "assign"]


def test_one_send_that_fails_unexpectedly_leaves_the_rest_of_the_bulk_decided_and_reported(
    settings, temporal, portal, officer, monkeypatch
):
    """Say the claim-check store is full for one gate's decision: the reviewer gets every other
    gate's answer, and that gate's decision is queued (before: a 500, the others' answers lost)."""
    gates = [projected_gate(start_loan(temporal, portal, loan_input(APPROVABLE))) for _ in range(3)]
    for gate in gates:
        gate_assign(gate=gate, reviewer=officer, assignee=officer, submission_id=str(uuid.uuid4()))
    failing = gates[1].workflow_id
    execute = sending._execute

    async def full_disk_for_one(gate, action, envelope):
        if gate.workflow_id == failing and action == "decide":
            raise OSError("No space left on device")
        return await execute(gate, action, envelope)

    monkeypatch.setattr(sending, "_execute", full_disk_for_one)
    fresh = [Gate.objects.get(pk=g.pk) for g in gates]

    response = logged_in(officer).post("/bulk/", bulk_form(fresh, str(uuid.uuid4())), headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("Approved</strong>, recorded by the agent.") == 2
    assert "It could not be sent just now; it is tried again shortly." in html
    assert ActionAttempt.objects.get(gate_id=gates[1].gate_id, action="decide").status == "undelivered"

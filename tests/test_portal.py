"""Portal views against the real Temporal dev server, worker and database."""

from __future__ import annotations

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.delivery import action_deliver
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.services import gate_assign, gate_decide
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from tests.conftest import (
    DECLINABLE,
    activity_names,
    decide,
    event_types,
    in_threads,
    loan_input,
    logged_in,
    make_user,
    projected_gate,
    start_loan,
    submit_loan_application,
)

COMPLETED = "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED"


def claim(reviewer, gate: Gate) -> None:
    """A loan gate is decided by the reviewer who holds it (its policy's claim_required)."""
    attempt = gate_assign(gate=gate, reviewer=reviewer, assignee=reviewer, submission_id=str(uuid.uuid4()))
    assert attempt.status == "accepted", attempt.detail


@pytest.fixture
def officer(portal_settings):
    return make_user("officer", "credit_officer")


def test_inbox_lists_only_the_gates_of_the_users_roles(temporal, portal, officer, loan_gate):
    _, gate = loan_gate
    compliance = make_user("compliance", "compliance_reviewer")

    mine = logged_in(officer).get("/")
    theirs = logged_in(compliance).get("/")

    assert gate.subject in mine.content.decode()
    assert 'class="countdown"' in mine.content.decode()
    assert gate.subject not in theirs.content.decode()
    assert "Nothing is waiting for your roles" in theirs.content.decode()


def test_a_gate_of_another_role_or_an_unknown_id_is_404(temporal, portal, loan_gate):
    _, gate = loan_gate
    compliance = logged_in(make_user("compliance", "compliance_reviewer"))

    assert compliance.get(f"/gates/{gate.gate_id}/").status_code == 404
    assert decide(compliance, gate).status_code == 404
    assert compliance.get("/gates/loan-unknown--g1/").status_code == 404
    assert Gate.objects.get(gate_id=gate.gate_id).status == "pending"


def test_anonymous_users_are_sent_to_log_in(temporal, portal, loan_gate):
    _, gate = loan_gate
    for url in ("/", f"/gates/{gate.gate_id}/", f"/audit/{gate.workflow_id}/"):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert Client().post(f"/gates/{gate.gate_id}/decide/", {}).status_code == 302


def test_approve_through_the_portal_reaches_the_workflow(temporal, portal, officer, loan_gate):
    handle, gate = loan_gate
    client = logged_in(officer)

    page = client.get(f"/gates/{gate.gate_id}/")
    response = decide(client, gate, reason="Affordable")

    assert page.status_code == 200 and "Approve" in page.content.decode()
    assert response.status_code == 200
    assert "Approval recorded by the agent." in response.content.decode()
    assert "<html" not in response.content.decode()  # the htmx partial, not the page
    gate.refresh_from_db()
    assert (gate.status, gate.decided_by, gate.reason) == ("approved", "officer", "Affordable")
    assert temporal.run(handle.result()).action["action"] == "offer issued"


def test_the_same_form_submitted_twice_is_applied_once(temporal, portal, officer, loan_gate):
    handle, gate = loan_gate
    client = logged_in(officer)
    submission = str(uuid.uuid4())

    first = decide(client, gate, reason="ok", submission_id=submission)
    second = decide(client, gate, reason="ok", submission_id=submission)

    assert first.status_code == 200
    # The gate is decided now, so the second post is answered without reaching the workflow.
    assert second.status_code == 409
    assert ActionAttempt.objects.filter(gate=gate, action="decide").count() == 1
    temporal.run(handle.result())
    assert event_types(temporal, handle).count(COMPLETED) == 2  # the claim, and the decision once
    assert activity_names(temporal, handle).count("loans.issue_offer") == 1


def test_two_clicks_racing_each_other_are_applied_once(temporal, portal, officer, loan_gate):
    handle, gate = loan_gate
    submission = str(uuid.uuid4())
    clients = [logged_in(officer), logged_in(officer)]
    claim(officer, gate)

    responses = in_threads(lambda c: decide(c, gate, reason="ok", submission_id=submission), clients)

    # Each click either reached the workflow (deduplicated by the Update ID) or found it decided.
    assert sorted(r.status_code for r in responses) in ([200, 200], [200, 409])
    assert ActionAttempt.objects.get(gate=gate, action="decide").status == "accepted"
    temporal.run(handle.result())
    assert event_types(temporal, handle).count(COMPLETED) == 2  # the claim, and the decision once
    assert activity_names(temporal, handle).count("loans.issue_offer") == 1


@pytest.mark.parametrize("signature", ["fresh", "expired"])
def test_redelivering_a_decision_whose_answer_was_lost_applies_it_once(
    temporal, portal, officer, loan_gate, signature
):
    handle, gate = loan_gate
    claim(officer, gate)
    attempt = gate_decide(
        gate=gate, reviewer=officer, decision="approve", reason="ok", submission_id="s-1", revision=0
    )
    first_update = attempt.update_id
    temporal.run(handle.result())  # the approval ended the run
    # The answer was lost (say the portal died): the record still says it is on its way.
    lost = ActionAttempt.objects.filter(pk=attempt.pk)
    lost.update(status="undelivered")
    if signature == "expired":  # and long enough ago that it is signed again, under a new Update id
        lost.update(signed_at=attempt.signed_at - timedelta(minutes=5))

    again = action_deliver(attempt=ActionAttempt.objects.get(pk=attempt.pk))

    # The run has ended, and it says it applied this very action: accepted, not "refused".
    assert (again.status, again.detail) == ("accepted", "")
    assert (again.update_id == first_update) == (signature == "fresh")
    assert event_types(temporal, handle).count(COMPLETED) == 2  # the claim, and the decision once
    assert activity_names(temporal, handle).count("loans.issue_offer") == 1


def test_a_decision_for_a_run_that_ended_without_it_is_refused_in_plain_words(
    temporal, portal, officer, loan_gate
):
    handle, gate = loan_gate
    temporal.run(handle.terminate("withdrawn by the applicant"))

    attempt = gate_decide(
        gate=gate, reviewer=officer, decision="approve", reason="ok", submission_id="s-1", revision=0
    )

    assert (attempt.status, attempt.detail) == (
        "refused",
        "This agent run is no longer running, so it cannot take this action.",
    )


def test_a_refused_update_is_shown_to_the_reviewer_and_the_gate_stays_open(temporal, portal, officer):
    # A loan the AI declined: a rejection agrees with it, so it is sent without a confirm step.
    handle = start_loan(temporal, portal, loan_input(DECLINABLE))
    gate = projected_gate(handle)

    response = decide(logged_in(officer), gate, decision="reject", reason="")

    assert response.status_code == 200
    assert "Rejection refused: A rejection needs a reason." in response.content.decode()
    attempt = ActionAttempt.objects.get(gate=gate, action="decide")
    assert attempt.status == "refused" and attempt.reviewer == officer
    assert Gate.objects.get(gate_id=gate.gate_id).status == "pending"
    assert temporal.run(handle.query(AgentWorkflow.gate)).status == "pending"
    assert event_types(temporal, handle).count(COMPLETED) == 1  # the claim alone


def test_the_submitter_cannot_decide_their_own_application(temporal, portal, officer):
    client = logged_in(officer)
    form = client.get("/applications/new/")
    assert form.status_code == 200
    response = submit_loan_application(client)
    assert response.status_code == 302
    gate = projected_gate(
        temporal.client.get_workflow_handle(f"loan-{response.wsgi_request.POST['submission_id']}")
    )

    refused = decide(client, gate, reason="looks fine")

    assert "Four-eyes rule" in refused.content.decode()
    assert Gate.objects.get(gate_id=gate.gate_id).status == "pending"


@pytest.mark.parametrize(
    "data",
    [
        {"decision": "approve-all", "reason": "", "submission_id": str(uuid.uuid4())},
        {"decision": "approve", "reason": "", "submission_id": "not-a-uuid"},
        {"decision": "approve", "reason": "x" * 5000, "submission_id": str(uuid.uuid4())},
        {"reason": "missing decision", "submission_id": str(uuid.uuid4())},
    ],
    ids=["forged-decision", "forged-submission-id", "oversized-reason", "no-decision"],
)
def test_forged_form_fields_get_400_and_send_nothing(temporal, portal, officer, loan_gate, data):
    handle, gate = loan_gate
    response = logged_in(officer).post(f"/gates/{gate.gate_id}/decide/", data, headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert not ActionAttempt.objects.exists()
    assert COMPLETED not in event_types(temporal, handle)


def test_a_post_without_csrf_token_is_forbidden(temporal, portal, officer, loan_gate):
    _, gate = loan_gate
    client = Client(enforce_csrf_checks=True)
    client.force_login(officer)
    assert decide(client, gate).status_code == 403
    assert not ActionAttempt.objects.exists()


def test_decision_without_javascript_redirects_with_the_outcome(temporal, portal, officer, loan_gate):
    _, gate = loan_gate
    client = logged_in(officer)
    response = decide(client, gate, reason="fine", htmx=False)
    assert response.status_code == 302 and response["Location"] == f"/gates/{gate.gate_id}/"
    page = client.get(response["Location"]).content.decode()
    assert "Approval recorded by the agent." in page and "Approved</strong> by officer" in page


def test_a_decision_made_while_no_worker_runs_is_kept_and_delivered_later(
    settings, temporal, portal_settings, officer
):
    with temporal.worker(portal_activities=PORTAL_ACTIVITIES) as queue:
        settings.TEMPORAL_TASK_QUEUE = queue
        handle = start_loan(temporal, queue, loan_input(submitted_by="intake"))
        gate = projected_gate(handle)
        claim(officer, gate)  # claimed while the worker ran (a claim is an Update too)
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = 2
    client = logged_in(officer)

    response = decide(client, gate, reason="ok")  # every worker is down now

    assert "Your approval is recorded and will be sent. The agent did not answer in time." in (
        response.content.decode()
    )
    attempt = ActionAttempt.objects.get(gate=gate, action="decide")
    assert attempt.status == "undelivered"
    page = client.get(f"/gates/{gate.gate_id}/").content.decode()
    assert "Withdraw my approval" in page and 'value="approve"' not in page

    # A new worker first waits out the old one's sticky queue (5 s), so allow the usual timeout.
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = 15
    out = StringIO()
    with temporal.worker(queue, portal_activities=PORTAL_ACTIVITIES):
        call_command("deliver_decisions", stdout=out)
        result = temporal.run(handle.result())

    assert out.getvalue().splitlines() == [
        "Handled 1 queued reviewer action: 1 accepted.",
        f"  {attempt.action_id} (approval by officer): accepted",
    ]
    assert result.outcome == "approved" and result.gate.decided_by == "officer"
    assert Gate.objects.get(gate_id=gate.gate_id).status == "approved"


def test_a_note_goes_to_the_workflow_and_appears_on_the_gate(temporal, portal, officer, loan_gate):
    handle, gate = loan_gate
    data = {"text": "Called the applicant: income confirmed.", "submission_id": str(uuid.uuid4())}

    response = logged_in(officer).post(
        f"/gates/{gate.gate_id}/annotate/", data, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "Note added." in page and "Called the applicant: income confirmed." in page
    assert Gate.objects.get(gate_id=gate.gate_id).annotations[0]["author"] == "officer"
    notes = temporal.run(handle.query(AgentWorkflow.gate)).annotations
    assert [(n.author, n.text) for n in notes] == [("officer", "Called the applicant: income confirmed.")]
    assert COMPLETED in event_types(temporal, handle)


def test_notes_from_outside_the_gates_role_or_empty_are_refused(temporal, portal, officer, loan_gate):
    handle, gate = loan_gate
    auditor = logged_in(make_user("auditor", "auditor"))
    url = f"/gates/{gate.gate_id}/annotate/"

    forbidden = auditor.post(url, {"text": "x", "submission_id": str(uuid.uuid4())})
    empty = logged_in(officer).post(url, {"text": "", "submission_id": str(uuid.uuid4())})

    assert forbidden.status_code == 403 and empty.status_code == 400
    assert COMPLETED not in event_types(temporal, handle)
    assert Gate.objects.get(gate_id=gate.gate_id).annotations == []


def test_an_edit_before_approval_is_validated_recorded_as_a_diff_and_acted_on(temporal, portal, officer):
    agent_input = loan_input(submitted_by="intake")
    agent_input.spec.editable = ["conditions"]
    handle = start_loan(temporal, portal, agent_input)
    gate = projected_gate(handle)
    client = logged_in(officer)
    claim(officer, gate)

    page = client.get(f"/gates/{gate.gate_id}/").content.decode()
    response = decide(client, gate, reason="ok", edit_conditions="Proof of income before payout")

    assert 'name="edit_conditions"' in page
    assert "Approval recorded by the agent." in response.content.decode()
    result = temporal.run(handle.result())
    assert result.gate.edits == {"conditions": "Proof of income before payout"}
    assert "+Proof of income before payout" in result.gate.edit_diff
    projected = Gate.objects.get(gate_id=gate.gate_id)
    assert projected.edit_diff == result.gate.edit_diff
    assert ActionAttempt.objects.get(gate=gate, action="decide").edits == {
        "conditions": "Proof of income before payout"
    }

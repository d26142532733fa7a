"""The portal's record of reviewer actions never changes a decision, and outages answer in plain
words: queued decisions, withdrawals, a dead portal's `sending` actions, 100 identical clicks,
replayed forms, odd text from history. Real dev server, real worker, real database."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from agents.framework import signing
from agents.framework.workflow import AgentWorkflow
from reviewer_portal import temporal_client
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.projection import gate_apply_snapshot
from reviewer_portal.inbox.redelivery import actions_redeliver
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from tests.conftest import (
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
ACCEPTED = "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def officer(portal_settings):
    return make_user("officer", "credit_officer")


@pytest.fixture
def stopped_worker_loan(settings, temporal, portal_settings):
    """A loan at its gate whose worker has stopped: Updates reach Temporal but no run answers."""
    with temporal.worker(portal_activities=PORTAL_ACTIVITIES) as queue:
        settings.TEMPORAL_TASK_QUEUE = queue
        handle = start_loan(temporal, queue, loan_input(submitted_by="intake"))
        gate = projected_gate(handle)
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = 1
    return queue, handle, gate


@pytest.fixture
def claimed_stopped_worker_loan(settings, temporal, portal_settings, officer):
    """As stopped_worker_loan, claimed by the officer while the worker ran: a loan gate is decided
    by the reviewer who holds it."""
    with temporal.worker(portal_activities=PORTAL_ACTIVITIES) as queue:
        settings.TEMPORAL_TASK_QUEUE = queue
        handle = start_loan(temporal, queue, loan_input(submitted_by="intake"))
        gate = projected_gate(handle)
        claim(logged_in(officer), gate)
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = 1
    return queue, handle, Gate.objects.get(pk=gate.pk)


def claim(client, gate) -> None:
    response = client.post(
        f"/gates/{gate.gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers=HTMX
    )
    assert "You claimed this gate." in response.content.decode()


def withdraw(client, gate, attempt):
    return client.post(f"/gates/{gate.gate_id}/withdraw/", {"action_id": attempt.action_id}, headers=HTMX)


def test_a_reject_after_an_undelivered_approve_is_its_own_decision_only_after_a_withdrawal(
    settings, temporal, monkeypatch, officer, claimed_stopped_worker_loan
):
    queue, handle, gate = claimed_stopped_worker_loan
    # Signatures go stale in seconds here, not minutes, so the test need not wait.
    max_age, max_skew = signing.MAX_AGE, signing.MAX_SKEW
    monkeypatch.setattr(signing, "MAX_AGE", timedelta(seconds=3))
    monkeypatch.setattr(signing, "MAX_SKEW", timedelta(seconds=1))
    for module in ("reviewer_portal.inbox.delivery", "reviewer_portal.inbox.sending"):
        monkeypatch.setattr(f"{module}.MAX_AGE", timedelta(seconds=3))
    monkeypatch.setattr("reviewer_portal.inbox.delivery.MAX_SKEW", timedelta(seconds=1))
    client = logged_in(officer)

    approve = decide(client, gate, reason="fine")  # a copy now waits in Temporal for a worker
    second = decide(client, gate, decision="reject", reason="Income not verified")
    approval = ActionAttempt.objects.get(decision="approve")
    withdrawn = withdraw(client, gate, approval)
    while_pending = decide(client, gate, decision="reject", reason="Income not verified")

    assert "Your approval is recorded and will be sent." in approve.content.decode()
    assert second.status_code == 409
    assert (
        "Your approval on this gate is recorded and will be sent; withdraw it first"
        in second.content.decode()
    )
    assert "You withdrew your approval: it is not sent again." in withdrawn.content.decode()
    assert ActionAttempt.objects.get(pk=approval.pk).status == "withdrawing"
    assert while_pending.status_code == 409 and ActionAttempt.objects.filter(action="decide").count() == 1
    # Not "withdraw it first": it was withdrawn, and the withdrawal is being confirmed.
    assert "You withdrew your approval on this gate, and the withdrawal is being confirmed" in (
        while_pending.content.decode()
    )

    time.sleep(4)  # the queued copy's signature expires
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = 15
    with temporal.worker(queue, portal_activities=PORTAL_ACTIVITIES):
        settled = actions_redeliver()  # the run confirms it never applied the approval
        # The queued copy is judged: the fresh reject need not beat a replay on a loaded machine.
        monkeypatch.setattr(signing, "MAX_AGE", max_age)
        monkeypatch.setattr(signing, "MAX_SKEW", max_skew)
        for module in ("reviewer_portal.inbox.delivery", "reviewer_portal.inbox.sending"):
            monkeypatch.setattr(f"{module}.MAX_AGE", max_age)
        monkeypatch.setattr("reviewer_portal.inbox.delivery.MAX_SKEW", max_skew)
        page = client.get(f"/gates/{gate.gate_id}/").content.decode()
        rejected = decide(
            client, Gate.objects.get(pk=gate.pk), decision="reject", reason="Income not verified"
        )
        result = temporal.run(handle.result())

    assert [a.status for a in settled] == ["withdrawn"]
    assert 'value="reject"' in page and "Withdraw" not in page
    assert "Rejection recorded by the agent." in rejected.content.decode()
    assert result.outcome == "rejected" and result.gate.decided_by == "officer"
    assert (
        event_types(temporal, handle).count(COMPLETED) == 2
    )  # the claim and the rejection: the approval never applied
    assert "loans.issue_offer" not in activity_names(temporal, handle)
    rejection = ActionAttempt.objects.get(decision="reject")
    assert rejection.update_id.split("#")[0] != approval.action_id  # its own Update id


def test_a_withdrawal_is_refused_for_an_action_already_answered_or_anothers(
    temporal, portal, officer, loan_gate
):
    _, gate = loan_gate
    client = logged_in(officer)
    decide(client, gate, reason="fine")
    accepted = ActionAttempt.objects.get(action="decide")
    other = logged_in(make_user("other", "credit_officer"))

    mine = withdraw(client, gate, accepted)
    theirs = withdraw(other, gate, accepted)

    assert mine.status_code == 409 and "It can no longer be withdrawn: Approval recorded by the agent." in (
        mine.content.decode()
    )
    assert theirs.status_code == 404
    assert ActionAttempt.objects.get(action="decide").status == "accepted"


def test_a_form_replayed_with_other_content_is_refused_not_resolved_to_the_first(
    temporal, portal, officer, loan_gate
):
    handle, gate = loan_gate
    client = logged_in(officer)
    submission = str(uuid.uuid4())
    rejected = decide(client, gate, decision="reject", reason="Score too low", submission_id=submission)

    replayed = decide(client, Gate.objects.get(pk=gate.pk), decision="approve", submission_id=submission)

    assert "Rejection recorded by the agent." in rejected.content.decode()
    assert replayed.status_code == 409  # the gate is decided: nothing is sent at all
    assert list(ActionAttempt.objects.filter(action="decide").values_list("decision", flat=True)) == [
        "reject"
    ]
    assert temporal.run(handle.result()).outcome == "rejected"


def test_a_replayed_form_with_other_content_while_pending_is_refused(
    temporal, claimed_stopped_worker_loan, officer
):
    _, handle, gate = claimed_stopped_worker_loan
    client = logged_in(officer)
    submission = str(uuid.uuid4())
    decide(client, gate, reason="fine", submission_id=submission)

    replayed = decide(client, gate, decision="reject", reason="changed", submission_id=submission)

    assert replayed.status_code == 409
    assert "already sent with other content" in replayed.content.decode()
    assert ActionAttempt.objects.get(action="decide").decision == "approve"
    temporal.run(handle.terminate("test done"))


def test_a_hundred_identical_concurrent_decisions_are_applied_once(temporal, portal, officer, loan_gate):
    handle, gate = loan_gate
    submission = str(uuid.uuid4())
    claim(logged_in(officer), gate)

    def click(_: int) -> int:
        return decide(logged_in(officer), gate, reason="ok", submission_id=submission).status_code

    statuses = in_threads(click, list(range(100)), threads=16)

    # Each click found the one record: it reached the run (deduplicated), or found it decided.
    assert set(statuses) <= {200, 409} and statuses.count(200) >= 1
    assert ActionAttempt.objects.get(action="decide").status == "accepted"
    temporal.run(handle.result())
    assert event_types(temporal, handle).count(COMPLETED) == 2  # the claim, and the decision once
    assert activity_names(temporal, handle).count("loans.issue_offer") == 1


def test_an_action_a_dead_portal_left_sending_is_shown_queued_and_redelivered(
    temporal, portal, officer, loan_gate
):
    handle, gate = loan_gate
    claim(logged_in(officer), gate)
    # The portal recorded the decision and died before it could send it.
    ActionAttempt.objects.create(
        action_id=f"decide:{gate.gate_id}:{uuid.uuid4()}",
        gate=gate,
        reviewer=officer,
        decision="approve",
        reason="Decided just before the crash",
        revision=0,
        status="sending",
    )
    ActionAttempt.objects.update(updated_at=timezone.now() - timedelta(minutes=1))

    page = logged_in(officer).get(f"/gates/{gate.gate_id}/").content.decode()
    out = StringIO()
    call_command("deliver_decisions", stdout=out)

    assert "Your approval is recorded and will be sent." in page and 'value="approve"' not in page
    assert "1 accepted" in out.getvalue()
    assert temporal.run(handle.result()).gate.reason == "Decided just before the crash"


def test_notes_and_claims_made_while_the_worker_is_down_are_queued_and_delivered(
    settings, temporal, officer, stopped_worker_loan
):
    queue, handle, gate = stopped_worker_loan
    client = logged_in(officer)

    note = client.post(
        f"/gates/{gate.gate_id}/annotate/",
        {"text": "Called the applicant.", "submission_id": str(uuid.uuid4())},
        headers=HTMX,
    )
    claim = client.post(f"/gates/{gate.gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers=HTMX)

    assert "Your note is recorded and will be sent." in note.content.decode()
    assert "Your claim is recorded and will be sent." in claim.content.decode()
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = 15
    with temporal.worker(queue, portal_activities=PORTAL_ACTIVITIES):
        delivered = actions_redeliver()
        gate_now = projected_gate(handle, version=3)
    assert [a.status for a in delivered] == ["accepted", "accepted"]
    assert gate_now.assignee == "officer" and gate_now.annotations[0]["text"] == "Called the applicant."
    temporal.run(handle.terminate("test done"))


def test_odd_text_already_in_history_never_makes_a_page_fail(temporal, portal, officer, loan_gate):
    handle, gate = loan_gate
    snapshot = temporal.run(handle.query(AgentWorkflow.gate))
    # As an older run, or model output, could have carried it into history.
    snapshot.recommendation.rationale = "lone \ud800 surrogate and a nul \x00 byte"
    snapshot.version += 1
    gate_apply_snapshot(snapshot=snapshot)
    auditor = logged_in(make_user("auditor", "auditor"))

    page = logged_in(officer).get(f"/gates/{gate.gate_id}/")
    audit = auditor.get(f"/audit/{gate.workflow_id}/")

    assert page.status_code == 200 and "lone \ufffd surrogate and a nul \ufffd byte" in page.content.decode()
    assert audit.status_code == 200
    assert "Gate opened for Credit officer" in audit.content.decode()  # read from the local publish's marker


def projected_gate_held_by(gate, username: str, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while Gate.objects.get(pk=gate.pk).assignee != username:
        assert time.monotonic() < deadline, f"{gate.gate_id} never held by {username}"
        time.sleep(0.1)
    return True


def test_refused_attempts_are_kept_and_shown_in_the_run_audit_trail(temporal, portal, officer, loan_gate):
    _, gate = loan_gate
    claimed = logged_in(officer).post(f"/gates/{gate.gate_id}/claim/", {"submission_id": str(uuid.uuid4())})
    assert claimed.status_code == 302 and projected_gate_held_by(gate, "officer")
    # A colleague's decision on the gate officer holds reaches the run, which refuses it.
    colleague = logged_in(make_user("colleague", "credit_officer"))
    decide(colleague, gate, reason="looks fine", claim_first=False)
    auditor = logged_in(make_user("auditor", "auditor"))

    page = auditor.get(f"/audit/{gate.workflow_id}/").content.decode()
    export = auditor.get(f"/audit/{gate.workflow_id}/export.json").json()

    assert "Approval by colleague refused: This gate is claimed by officer" in page
    [entry] = [e for e in export["entries"] if e["kind"] == "portal" and e["data"]["reviewer"] == "colleague"]
    assert entry["data"]["status"] == "refused"


@pytest.mark.parametrize(
    "path",
    ["/gates/a%00b/", "/gates/" + "g" * 300 + "/", "/audit/loan%00x/", "/gates/{gate}/withdraw/"],
    ids=["nul-gate-id", "long-gate-id", "nul-run-id", "nul-action-id"],
)
def test_odd_ids_in_a_url_or_a_form_are_404_never_500(temporal, portal, officer, loan_gate, path):
    _, gate = loan_gate
    make_user("auditor-1", "auditor")
    client = logged_in(officer)

    if "withdraw" in path:
        response = client.post(path.format(gate=gate.gate_id), {"action_id": "decide:x\x00:y"}, headers=HTMX)
    else:
        response = client.get(path)

    assert response.status_code == 404


def test_a_rejection_reason_that_only_fits_without_its_grounds_is_refused_by_the_form(
    temporal, portal, officer, loan_gate
):
    _, gate = loan_gate

    response = decide(logged_in(officer), gate, decision="reject", reason="x" * 2000, preset="Policy breach")

    assert response.status_code == 400
    assert (
        "With the grounds “Policy breach”, the reason has room for 1985 characters."
        in response.content.decode()
    )
    assert not ActionAttempt.objects.filter(action="decide").exists()


def test_assigning_to_a_colleague_deactivated_since_the_page_was_drawn_is_a_form_error(
    temporal, portal, officer, loan_gate
):
    _, gate = loan_gate
    colleague = make_user("colleague", "credit_officer")
    client = logged_in(officer)
    client.get(f"/gates/{gate.gate_id}/")
    colleague.is_active = False
    colleague.save()

    response = client.post(
        f"/gates/{gate.gate_id}/assign/",
        {"assignee": "colleague", "submission_id": str(uuid.uuid4())},
        headers=HTMX,
    )

    assert response.status_code == 400 and not ActionAttempt.objects.exists()


def test_every_action_of_a_portal_started_during_an_outage_answers_in_plain_words(
    settings, temporal, portal, officer, loan_gate
):
    _, gate = loan_gate
    settings.TEMPORAL_ADDRESS = "127.0.0.1:1"  # nothing listens there
    temporal_client.reset_client()
    client = logged_in(officer)
    auditor = logged_in(make_user("auditor", "auditor"))

    note = client.post(
        f"/gates/{gate.gate_id}/annotate/",
        {"text": "Called them.", "submission_id": str(uuid.uuid4())},
        headers=HTMX,
    )
    claim = client.post(f"/gates/{gate.gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers=HTMX)
    intake = submit_loan_application(client)
    audit = auditor.get(f"/audit/{gate.workflow_id}/")
    export = auditor.get(f"/audit/{gate.workflow_id}/export.json")

    assert (
        "Your note is recorded and will be sent. Temporal is not reachable right now."
        in note.content.decode()
    )
    assert (
        "Your claim is recorded and will be sent. Temporal is not reachable right now."
        in claim.content.decode()
    )
    assert intake.status_code == 503
    assert (
        "Temporal is not reachable right now, so nothing was submitted. Try again." in intake.content.decode()
    )
    assert audit.status_code == 503 and "Temporal is not reachable right now" in audit.content.decode()
    assert export.status_code == 503
    assert {a.status for a in ActionAttempt.objects.all()} == {"undelivered"}

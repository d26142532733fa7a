"""A reviewer's own cases and history: own cases wait for others (four eyes) outside the queue;
"My decisions" and "My submissions" list only the user's rows, by id; the reviewers of a run's
gates read its trail read-only; an auditor's home is the audit index.

Listing tests create projection rows with `make_gate` (no Temporal needed); the trail and intake
tests run real loan agents on the dev server.
"""

from __future__ import annotations

import html
import importlib
import re
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from reviewer_portal.history.models import Submission
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.outcomes import ARRIVED
from reviewer_portal.inbox.permissions import gate_permissions_for
from reviewer_portal.inbox.selectors import gate_list_for, inbox_queues_for
from tests.actions import person_id
from tests.conftest import decide, logged_in, make_user, projected_gate, submit_loan_application
from tests.test_inbox import listed, make_gate

MY_DECISIONS, MY_SUBMISSIONS = "/history/decisions/", "/history/submissions/"


@pytest.fixture
def officer(db) -> User:
    return make_user("officer", "credit_officer")


def rows_of(response, attribute: str = "data-gate-id") -> list[str]:
    assert response.status_code == 200, response.status_code
    return re.findall(rf'<tr {attribute}="([^"]+)"', response.content.decode())


def attempt(
    gate: Gate, user: User, status: str, *, decision: str = "approve", detail: str = ""
) -> ActionAttempt:
    return ActionAttempt.objects.create(
        action_id=f"decide:{gate.gate_id}:{uuid.uuid4()}",
        gate=gate,
        reviewer=user,
        decision=decision,
        status=status,
        detail=detail,
    )


# --- own cases ----------------------------------------------------------------------------


def test_own_cases_leave_the_queue_and_its_counts_for_an_awaiting_others_list(officer):
    mine = make_gate(submitted_by="officer", applicant_name="Own Case")
    theirs = make_gate(submitted_by="intake")
    legacy = make_gate(submitted_by="officer", submitted_by_id="", applicant_name="Old Own Case")

    client = logged_in(officer)
    page = client.get("/")

    assert listed(page) == [theirs.gate_id]
    assert [(q.key, q.count) for q in inbox_queues_for(user=officer)] == [
        ("", 1),
        ("credit_officer", 1),
        ("mine", 0),
    ]
    assert list(gate_list_for(user=officer).values_list("gate_id", flat=True)) == [theirs.gate_id]
    awaiting = page.content.decode().split('aria-labelledby="awaiting-h"')[1]
    assert mine.subject in awaiting and legacy.subject in awaiting
    # Nobody else holds the role: the list says so instead of leaving the case to expire.
    assert "No other Credit officer can decide this: ask your admin" in awaiting

    make_user("colleague", "credit_officer")
    awaiting = client.get("/").content.decode().split('aria-labelledby="awaiting-h"')[1]
    assert "Waiting for another Credit officer" in awaiting
    assert "ask your admin" not in awaiting


def test_an_own_case_page_offers_no_decision_and_a_tampered_post_is_refused(officer):
    mine = make_gate(submitted_by="officer")
    client = logged_in(officer)

    assert gate_permissions_for(user=officer, gate=mine).decide is False
    page = client.get(f"/gates/{mine.gate_id}/").content.decode()
    assert 'value="approve"' not in page and 'value="reject"' not in page
    assert "This is your case" in page and "No other Credit officer can decide this" in page
    assert f'href="/audit/{mine.workflow_id}/"' in page  # History of this run

    response = decide(client, mine, "approve")
    assert response.status_code == 409 and "Four-eyes rule" in response.content.decode()
    assert not ActionAttempt.objects.exists()
    # The colleague who may decide it still sees the buttons.
    colleague = make_user("colleague", "credit_officer")
    assert gate_permissions_for(user=colleague, gate=mine).decide is True
    assert 'value="approve"' in logged_in(colleague).get(f"/gates/{mine.gate_id}/").content.decode()


# --- My decisions -------------------------------------------------------------------------


def test_my_decisions_lists_only_mine_newest_first_with_refused_and_withdrawn_ones(officer):
    other = make_user("other", "credit_officer")
    now = timezone.now()
    approved = make_gate(
        status="approved",
        decided_by="officer",
        decided_by_id=str(officer.pk),
        decided_at=now - timedelta(hours=2),
    )
    refused_on = make_gate()
    attempt(refused_on, officer, "refused", decision="reject", detail="This gate was already decided.")
    withdrawn_on = make_gate()
    attempt(withdrawn_on, officer, "withdrawn")
    theirs = make_gate(status="rejected", decided_by="other", decided_by_id=str(other.pk), decided_at=now)
    attempt(make_gate(), other, "refused")

    page = logged_in(officer).get(MY_DECISIONS)

    assert rows_of(page) == [withdrawn_on.gate_id, refused_on.gate_id, approved.gate_id]
    text = page.content.decode()
    assert "Refused: This gate was already decided." in text and "Withdrawn" in text
    assert "Approved by officer" in text
    assert theirs.gate_id not in text
    assert f'href="/audit/{approved.workflow_id}/"' in text


def test_my_decisions_says_why_the_portal_held_a_queued_decision_back(officer):
    """Held back by the delivery loop (reviewer_portal.inbox.resend_checks), not withdrawn by the
    reviewer: the row says so, with the portal's reason."""
    reason = (
        "Since you decided, the gate changed (a colleague's note), so the portal did not send your decision."
    )
    attempt(make_gate(), officer, "held", detail=reason)
    attempt(make_gate(), officer, "withdrawing")  # their own withdrawal
    attempt(make_gate(), officer, "accepted", detail=ARRIVED)  # a hold an earlier copy overtook

    text = html.unescape(logged_in(officer).get(MY_DECISIONS).content.decode())

    assert f"Held back by the portal: {reason}" in text
    assert text.count("Being withdrawn") == 1
    assert f"Recorded by the agent: {ARRIVED}" in text


def test_a_renamed_reviewer_keeps_their_decisions_and_a_namesake_gets_none(officer):
    gate = make_gate(
        status="approved", decided_by="officer", decided_by_id=str(officer.pk), decided_at=timezone.now()
    )
    officer.username = "officer.renamed"
    officer.save()
    # A new account that took the old name must not inherit the decisions (ids, not names).
    newcomer = User.objects.create_user(username="officer", password="pw")
    newcomer.groups.set(officer.groups.all())

    assert rows_of(logged_in(officer).get(MY_DECISIONS)) == [gate.gate_id]
    assert rows_of(logged_in(newcomer).get(MY_DECISIONS)) == []


def test_my_decisions_are_paginated(officer):
    now = timezone.now()
    gates = [
        make_gate(
            status="approved",
            decided_by="officer",
            decided_by_id=str(officer.pk),
            decided_at=now - timedelta(minutes=n),
        )
        for n in range(20)
    ]
    for gate in gates[:10]:
        attempt(gate, officer, "accepted")  # the portal's record of the same decisions: listed once
    extra = [make_gate() for _ in range(10)]
    for gate in extra:
        attempt(gate, officer, "refused")
    client = logged_in(officer)

    first, second = rows_of(client.get(MY_DECISIONS)), rows_of(client.get(f"{MY_DECISIONS}?page=2"))

    assert len(first) == 25 and len(second) == 5
    assert set(first) | set(second) == {g.gate_id for g in gates + extra}
    assert 'rel="next"' in client.get(MY_DECISIONS).content.decode()


# --- My submissions -----------------------------------------------------------------------


def test_my_submissions_show_where_each_stands_and_never_anothers(officer):
    other = make_user("other", "credit_officer")
    senior = make_user("senior", "senior_credit_officer")
    Submission.objects.create(
        workflow_id="loan-fresh", agent="loans", subject="Fresh: 5,000", submitted_by=officer
    )
    pending = make_gate(submitted_by="officer", workflow_id="loan-pending", gate_id="loan-pending--g1")
    escalated = make_gate(
        submitted_by="officer", workflow_id="loan-up", gate_id="loan-up--g1", role="senior_credit_officer"
    )
    approved = make_gate(
        submitted_by="officer",
        workflow_id="loan-ok",
        gate_id="loan-ok--g1",
        status="approved",
        decided_by="other",
    )
    sent_back = make_gate(
        submitted_by="officer",
        workflow_id="loan-back",
        gate_id="loan-back--g1",
        status="changes_requested",
        decided_by="other",
    )
    Submission.objects.create(workflow_id="loan-theirs", agent="loans", subject="Theirs", submitted_by=other)
    make_gate(submitted_by="other", workflow_id="loan-theirs", gate_id="loan-theirs--g1")

    response = logged_in(officer).get(MY_SUBMISSIONS)
    page = response.content.decode()

    runs = rows_of(response, "data-workflow-id")
    assert set(runs) == {"loan-fresh", "loan-pending", "loan-up", "loan-ok", "loan-back"}
    assert runs[0] == "loan-fresh"  # newest first: submitted just now, the gates opened earlier
    assert "With the agent" in page
    assert "Waiting for review by credit officer" in page
    assert "Waiting for review by senior credit officer" in page
    assert "Approved by other" in page
    assert "Changes requested by other" in page
    assert "Theirs" not in page and "loan-theirs" not in page
    # The escalated gate left the officer's roles: no dead link to it, no trail either.
    assert f'href="/gates/{escalated.gate_id}/"' not in page
    assert f'href="/gates/{pending.gate_id}/"' in page
    assert f'href="/audit/{pending.workflow_id}/"' in page
    assert approved.gate_id and sent_back.gate_id and senior


def test_a_renamed_submitter_keeps_their_submissions(officer):
    Submission.objects.create(workflow_id="loan-a", agent="loans", subject="Case A", submitted_by=officer)
    make_gate(submitted_by="officer", workflow_id="loan-b", gate_id="loan-b--g1")
    officer.username = "officer.renamed"
    officer.save()

    assert set(rows_of(logged_in(officer).get(MY_SUBMISSIONS), "data-workflow-id")) == {"loan-a", "loan-b"}


def test_history_pages_need_a_login_and_refuse_posts(officer):
    assert Client().get(MY_DECISIONS).status_code == 302
    assert Client().get(MY_SUBMISSIONS).status_code == 302
    assert logged_in(officer).post(MY_DECISIONS).status_code == 405
    assert logged_in(officer).get(f"{MY_SUBMISSIONS}?page=%F0%9F%92%A5").status_code == 200


# --- the auditor's home -------------------------------------------------------------------


def test_an_auditor_lands_on_the_audit_index_and_a_reviewer_on_the_inbox(db):
    make_user("auditor", "auditor")
    make_user("officer", "credit_officer")
    make_user("root", superuser=True)

    for username, home in (("auditor", "/audit/"), ("officer", "/"), ("root", "/")):
        client = Client()
        response = client.post("/accounts/login/", {"username": username, "password": "pw"}, follow=True)
        assert response.redirect_chain[-1][0] == home, (username, response.redirect_chain)
        assert response.status_code == 200


# --- the run trail, with Temporal ---------------------------------------------------------


def test_a_gates_reviewer_reads_its_run_trail_read_only_and_no_other_run(temporal, portal, loan_gate):
    _, gate = loan_gate
    officer = logged_in(make_user("officer", "credit_officer"))
    compliance = logged_in(make_user("compliance", "compliance_reviewer"))
    auditor = logged_in(make_user("auditor", "auditor"))
    other_run = make_gate(role="compliance_reviewer", agent="regulatory")

    response = officer.get(f"/audit/{gate.workflow_id}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Read-only" in page and gate.subject in page
    assert page.count('<li class="entry') >= 3  # the run's steps, decoded
    assert "Export JSON" not in page and "Temporal Web UI" not in page and "AI Act record" not in page
    assert officer.get(f"/audit/{gate.workflow_id}/export.json").status_code == 403
    assert officer.get(f"/audit/{other_run.workflow_id}/").status_code == 403
    assert officer.get(f"/audit/loan-{uuid.uuid4()}/").status_code == 403
    assert compliance.get(f"/audit/{gate.workflow_id}/").status_code == 403
    assert "Export JSON" in auditor.get(f"/audit/{gate.workflow_id}/").content.decode()


def test_an_intake_submission_is_followed_from_the_agent_to_the_decision(temporal, portal):
    officer = make_user("officer", "credit_officer")
    colleague = make_user("colleague", "credit_officer")
    submission_id = str(uuid.uuid4())

    assert submit_loan_application(logged_in(officer), submission_id).status_code == 302
    submission = Submission.objects.get(submitted_by=officer)
    assert submission.workflow_id.endswith(submission_id) and submission.agent == "loans"
    submit_loan_application(logged_in(officer), submission_id)  # sent twice: one record
    assert Submission.objects.count() == 1

    gate = projected_gate(SimpleNamespace(id=submission.workflow_id))
    client = logged_in(officer)
    assert "Waiting for review by credit officer" in client.get(MY_SUBMISSIONS).content.decode()
    assert gate.gate_id not in listed(client.get("/"))  # four eyes: not in their own queue
    assert gate.submitted_by_id == str(officer.pk) == person_id("officer")

    decide(logged_in(colleague), gate, "approve", reason="Affordable")
    assert "Approved by colleague" in client.get(MY_SUBMISSIONS).content.decode()
    decisions = logged_in(colleague).get(MY_DECISIONS).content.decode()
    assert gate.gate_id in decisions and "Recorded by the agent" in decisions


# --- the submission record ----------------------------------------------------------------


def test_a_run_started_outside_the_intake_becomes_its_submitters_submission_once(officer):
    gate = make_gate(submitted_by="officer", workflow_id="loan-raw", gate_id="loan-raw--g1")
    make_gate(submitted_by="officer", workflow_id="loan-raw", gate_id="loan-raw--g2")
    make_gate(submitted_by="intake")  # the system, not a person of this portal: no record

    (submission,) = Submission.objects.all()
    assert (submission.workflow_id, submission.submitted_by, submission.submitted_at) == (
        "loan-raw",
        officer,
        gate.opened_at,
    )


def test_the_migration_records_the_runs_already_projected(officer):
    migration = importlib.import_module("reviewer_portal.history.migrations.0002_submitted_at_from_the_run")
    by_id = make_gate(submitted_by="officer", workflow_id="loan-old-1", gate_id="loan-old-1--g1")
    by_name = make_gate(
        submitted_by="officer", submitted_by_id="", workflow_id="loan-old-2", gate_id="loan-old-2--g1"
    )
    make_gate(submitted_by="intake")
    Submission.objects.all().delete()  # as before the portal kept the record

    migration.record_existing_runs(apps, None)

    assert dict(Submission.objects.values_list("workflow_id", "submitted_by")) == {
        by_id.workflow_id: officer.pk,
        by_name.workflow_id: officer.pk,
    }


def test_a_user_named_system_never_counts_as_the_sla_policy_that_closed_a_gate(officer):
    closed = make_gate(status="rejected", decided_by="system", decided_by_id="", decided_at=timezone.now())
    system = make_user("system", "compliance_reviewer")

    assert logged_in(system).get(f"/gates/{closed.gate_id}/").status_code == 404
    assert closed.subject not in logged_in(system).get("/history/decisions/").content.decode()

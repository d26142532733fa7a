"""A gate's URL lives as long as the gate (issue 11, item 2): after an escalation the original
role still opens it, read-only, with who has it now and why; the new role is told at once; after a
decision the original queue sees who decided; a change request keeps the SLA time that was left."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client

from agents.framework import gates, sla
from agents.framework.contract import NOTIFY_ACTIVITY
from agents.framework.types import Recommendation
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.gate_context import sla_note
from reviewer_portal.inbox.models import Gate
from tests import actions
from tests.conftest import (
    activity_names,
    event_types,
    loan_input,
    logged_in,
    make_user,
    projected_gate,
    record_history,
    start_loan,
    wait_for_gate,
)
from tests.test_decision_safety import NOW, snapshot

HTMX = {"HX-Request": "true"}
SENIOR = ("senior_credit_officer",)


# --- the rules, as pure functions ---------------------------------------------------------------


def test_a_revision_keeps_the_time_that_was_left_when_changes_were_requested():
    asked = snapshot(status="changes_requested", decided_at=NOW + timedelta(minutes=48), decided_by="officer")
    later = NOW + timedelta(hours=3)  # the agent took long to revise: that time is not the reviewer's

    kept = gates.reopen(asked, Recommendation("approve", "revised"), later, keep_clock=True)
    full = gates.reopen(asked, Recommendation("approve", "revised"), later)

    assert kept.deadline == later + timedelta(minutes=12) and kept.opened_at == later
    assert full.deadline == later + timedelta(hours=1)  # runs recorded before: a fresh full SLA
    assert kept.status == "pending" and not kept.warned


def test_a_change_requested_in_the_last_seconds_still_leaves_time_to_read_the_revision():
    last_second = snapshot(status="changes_requested", decided_at=NOW + timedelta(minutes=59, seconds=58))
    short_sla = snapshot(status="changes_requested", decided_at=NOW + timedelta(seconds=59), sla_seconds=60,
                         deadline=NOW + timedelta(seconds=60))  # fmt: skip

    kept = gates.reopen(last_second, Recommendation("approve", "r"), NOW, keep_clock=True)
    short = gates.reopen(short_sla, Recommendation("approve", "r"), NOW, keep_clock=True)

    assert kept.deadline - NOW == sla.REVISION_FLOOR == timedelta(minutes=10)
    assert short.deadline - NOW == timedelta(seconds=12)  # a fifth of an SLA shorter than the floor


def test_the_panel_says_in_words_what_the_clock_did():
    kept = Gate(
        revisions=[{}],
        status="pending",
        sla_seconds=3600,
        opened_at=NOW,
        deadline=NOW + timedelta(minutes=12),
    )
    full = Gate(
        revisions=[{}], status="pending", sla_seconds=3600, opened_at=NOW, deadline=NOW + timedelta(hours=1)
    )

    assert sla_note(kept) == (
        "The SLA clock paused while the agent revised: this revision has the 12m that were left "
        "when changes were requested."
    )
    assert sla_note(full) == "The SLA restarted in full when the agent revised."
    assert sla_note(Gate(revisions=[], status="pending")) == ""


# --- against a real run -------------------------------------------------------------------------


@pytest.fixture
def people(portal_settings):
    officer = make_user("officer", "credit_officer")
    officer.email = "officer@bank.example"
    officer.save()
    senior = make_user("senior", *SENIOR)
    senior.email = "senior@bank.example"
    senior.save()
    return logged_in(officer), logged_in(senior)


def wait_for(predicate, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def panel(client: Client, gate_id: str) -> str:
    response = client.get(f"/gates/{gate_id}/?panel=decision", headers=HTMX)
    assert response.status_code == 200
    return response.content.decode()


def test_after_escalation_the_officer_keeps_the_page_read_only_and_the_senior_is_told_at_once(
    temporal, portal, people
):
    officer, senior = people
    # Long enough for the page before to be read before the escalation on a loaded machine.
    handle = start_loan(temporal, portal, loan_input(sla_seconds=10, escalation_sla_seconds=3600))
    gate = projected_gate(handle)
    before = officer.get(f"/gates/{gate.gate_id}/").content.decode()

    escalated = wait_for(lambda: Gate.objects.filter(pk=gate.pk, role=SENIOR[0]).first())
    outbox = wait_for(lambda: [m for m in mail.outbox if m.subject.startswith("Escalated to your role")])
    page = officer.get(f"/gates/{gate.gate_id}/")
    live = panel(officer, gate.gate_id)  # what the officer's open page re-reads on the live push

    assert "Claim this gate to decide it" in before
    assert escalated.past_roles == ["credit_officer"] and escalated.moved_at == gate.deadline
    assert [m.to for m in outbox] == [["senior@bank.example"]]
    assert f"/gates/{gate.gate_id}/" in outbox[0].body
    assert page.status_code == 200
    for shown in (page.content.decode(), live):
        assert "Escalated to the <strong>Senior credit officer</strong> queue at" in shown
        assert "because the SLA ran out; unclaimed." in shown
        assert "This gate has left your queue" in shown
        assert 'value="approve"' not in shown and 'value="reject"' not in shown
        assert 'aria-keyshortcuts="c"' not in shown  # nor a claim
    refused = officer.post(
        f"/gates/{gate.gate_id}/decide/",
        {"decision": "approve", "reason": "x", "submission_id": str(uuid.uuid4()), "revision": "0"},
        headers=HTMX,
    )
    assert refused.status_code == 409

    senior.post(f"/gates/{gate.gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers=HTMX)
    assert "held by <strong>senior</strong>" in panel(officer, gate.gate_id)
    decided = senior.post(
        f"/gates/{gate.gate_id}/decide/",
        {"decision": "approve", "reason": "Fine", "submission_id": str(uuid.uuid4()), "revision": "0"},
        headers=HTMX,
    )
    assert "Approval recorded by the agent." in decided.content.decode()
    after = panel(officer, gate.gate_id)
    assert "<strong>Approved</strong> by senior" in after and 'value="approve"' not in after
    assert temporal.run(handle.result()).outcome == "approved"
    assert NOTIFY_ACTIVITY in activity_names(temporal, handle)
    record_history(temporal, handle, "loan_escalated_with_notice_then_approved")


def test_a_reviewer_of_an_unrelated_role_still_gets_404(temporal, portal, people):
    handle = start_loan(temporal, portal, loan_input(sla_seconds=2, escalation_sla_seconds=3600))
    gate = projected_gate(handle)
    wait_for(lambda: Gate.objects.filter(pk=gate.pk, role=SENIOR[0]).exists())
    adviser = logged_in(make_user("adviser", "licensed_adviser"))

    assert adviser.get(f"/gates/{gate.gate_id}/").status_code == 404
    temporal.run(handle.terminate("test done"))


def test_request_changes_keeps_the_sla_time_that_was_left(temporal, portal, people):
    officer, _senior = people
    handle = start_loan(temporal, portal, loan_input(sla_seconds=3600))
    gate = projected_gate(handle)
    officer.post(f"/gates/{gate.gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers=HTMX)
    time.sleep(2)  # some of the SLA goes by before the reviewer sends it back
    officer.post(
        f"/gates/{gate.gate_id}/decide/",
        {
            "decision": "request_changes",
            "reason": "Refer it: income unverified",
            "submission_id": str(uuid.uuid4()),
            "revision": "0",
        },
        headers=HTMX,
    )

    reopened = wait_for_gate(temporal, handle, until=lambda g: g.status == "pending" and g.revisions)
    row = projected_gate(handle, version=reopened.version)
    page = panel(officer, gate.gate_id)

    given = reopened.deadline - reopened.opened_at
    assert timedelta(minutes=58) < given < timedelta(seconds=3599)
    assert "The SLA clock paused while the agent revised" in page
    assert row.deadline == reopened.deadline
    assert "EVENT_TYPE_MARKER_RECORDED" in event_types(temporal, handle)
    actions.decide(temporal, handle, gate.gate_id, reason="Refer accepted")
    assert temporal.run(handle.result()).outcome == "approved"
    record_history(temporal, handle, "loan_changes_requested_kept_clock")


def test_a_claim_required_run_refuses_an_unclaimed_decision_then_takes_the_claimed_one(temporal, worker):
    handle = start_loan(temporal, worker, loan_input())
    gate = wait_for_gate(temporal, handle)

    with pytest.raises(Exception) as refused:
        actions.decide(temporal, handle, gate.gate_id, reason="no claim", claim_first=False)
    actions.decide(temporal, handle, gate.gate_id, reason="claimed first")

    assert "Claim this gate to decide it" in str(refused.value.cause.message)
    result = temporal.run(handle.result())
    assert result.gate.assignee == "officer" and result.gate.decided_by == "officer"
    assert temporal.run(handle.query(AgentWorkflow.gate)).claim_required
    record_history(temporal, handle, "loan_claim_required_refused_then_claimed")


def test_a_gate_held_for_an_admin_stays_readable_by_the_roles_it_left(transactional_db, settings):
    from dataclasses import replace

    from reviewer_portal.inbox.projection import gate_apply_snapshot

    settings.TIME_ZONE = "UTC"
    officer = logged_in(make_user("officer", "credit_officer"))
    senior = logged_in(make_user("senior", *SENIOR))
    first = snapshot(gate_id="loan-h--g1", workflow_id="loan-h", status="pending")
    escalated = replace(
        first, role=SENIOR[0], escalation_level=1, deadline=NOW + timedelta(hours=2), version=2
    )
    held = replace(
        escalated,
        role="admin",
        escalation_level=2,
        deadline=NOW + timedelta(days=365),
        needs_attention="Held for an admin: no decision",
        version=3,
    )
    for version in (first, escalated, held):
        gate_apply_snapshot(snapshot=version)

    row = Gate.objects.get(pk="loan-h--g1")
    pages = [officer.get("/gates/loan-h--g1/"), senior.get("/gates/loan-h--g1/")]

    assert row.past_roles == ["credit_officer", SENIOR[0]] and row.moved_at == escalated.deadline
    for page in pages:
        assert page.status_code == 200
        shown = page.content.decode()
        assert "Held for an admin at 14:00 UTC on 2026-11-26 because the SLA ran out; unclaimed." in shown
        assert "This gate has left your queue" in shown and 'value="approve"' not in shown
    stranger = logged_in(make_user("adviser", "licensed_adviser"))
    assert stranger.get("/gates/loan-h--g1/").status_code == 404


def test_a_gate_first_seen_already_escalated_is_readable_by_the_role_it_left(transactional_db):
    """The portal missed the escalation (it was down, or the row is older than past_roles): the
    roles the gate left come from its agent's policy, so the officer's link still opens it."""
    from dataclasses import replace

    from reviewer_portal.inbox.projection import gate_apply_snapshot

    officer = logged_in(make_user("officer", "credit_officer"))
    escalated = replace(
        snapshot(gate_id="loan-e--g1", workflow_id="loan-e", status="pending"),
        role=SENIOR[0],
        escalation_level=1,
        sla_seconds=1800,
        deadline=NOW + timedelta(minutes=30),
        version=2,
    )

    gate_apply_snapshot(snapshot=escalated)
    row = Gate.objects.get(pk="loan-e--g1")
    page = officer.get("/gates/loan-e--g1/")

    assert (row.past_roles, row.moved_at) == (["credit_officer"], NOW)
    assert page.status_code == 200 and "This gate has left your queue" in page.content.decode()

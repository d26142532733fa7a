"""A reviewer marked absent claims no gate (their claims were released when they were marked, so
the team view stays true): not with the claim button, and not by selecting an unclaimed gate for a
bulk decision, which would claim it. The bulk result says why, and nothing is recorded or sent."""

from __future__ import annotations

import uuid

from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.team.services import absence_end, absence_mark
from tests.conftest import APPROVABLE, loan_input, logged_in, make_user, projected_gate, start_loan

HTMX = {"HX-Request": "true"}


def test_an_absent_reviewer_claims_nothing_through_a_bulk_decision(temporal, portal):
    officer = make_user("officer", "credit_officer")
    senior = make_user("senior", "senior_credit_officer")
    gate = projected_gate(start_loan(temporal, portal, loan_input(APPROVABLE, submitted_by="intake")))
    absence, _ = absence_mark(
        user=officer, marked_by=senior, reason="Leave", until=None, submission_id=str(uuid.uuid4())
    )
    data = {
        "gate_ids": [gate.gate_id],
        "decision": "approve",
        "reason_text": "Low risk",
        "submission_id": str(uuid.uuid4()),
    }

    response = logged_in(officer).post("/bulk/", data, headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200 and "You are marked absent" in html and "by senior" in html
    assert not ActionAttempt.objects.filter(reviewer=officer).exists()  # no claim, no decision
    assert Gate.objects.get(pk=gate.pk).assignee == ""
    absence_end(absence=absence, ended_by=senior)
    again = logged_in(officer).post("/bulk/", {**data, "submission_id": str(uuid.uuid4())}, headers=HTMX)
    assert "Approved</strong>, recorded by the agent." in again.content.decode()  # present: as before

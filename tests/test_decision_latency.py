"""The decide view's fast path (issue 12, decision latency) against the real dev server: a decision
reads and writes the database a small fixed number of times, the htmx reply is the decision panel
alone (with the case column out of band only when the decision changed it), and the async view
still enforces who may decide, CSRF and the confirm step, with nothing recorded or sent when it
refuses. The recorded-first guarantee itself is covered by test_outbox and test_decision_safety."""

from __future__ import annotations

import html
import re
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.models import ActionAttempt, Gate
from tests.conftest import DECLINABLE, loan_input, logged_in, make_user, projected_gate, start_loan

HTMX = {"HX-Request": "true"}
# The view's own: the session, the user, their roles, the gate (with their waiting decision) and
# the decision recorded (one INSERT); the panel shows the gate as the Update's change leaves it,
# without reading it again. After the reply (reviewer_portal.after_reply), within the request: the
# answer (one UPDATE) and the projection taking the gate's change (13 with its transaction,
# savepoints, notices and live announcement); the session's save (3) comes on top.
MAX_QUERIES = 22
TOKEN = re.compile(r'name="confirm_token" value="([^"]+)"')


@pytest.fixture
def officer(portal_settings):
    return make_user("officer", "credit_officer")


def claimed(client: Client, gate: Gate) -> Gate:
    response = client.post(
        f"/gates/{gate.gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers=HTMX
    )
    assert "You claimed this gate." in response.content.decode()
    return Gate.objects.get(gate_id=gate.gate_id)


def form(gate: Gate, decision: str = "approve", reason: str = "Affordable.", **fields: str) -> dict[str, str]:
    return {
        "decision": decision,
        "reason": reason,
        "submission_id": str(uuid.uuid4()),
        "revision": str(len(gate.revisions)),
        **fields,
    }


def workflow_gate(temporal, handle):
    return temporal.run(handle.query(AgentWorkflow.gate))


def test_a_decision_reads_and_writes_the_database_a_few_times_and_replies_with_the_panel(
    temporal, portal, officer, loan_gate
):
    handle, gate = loan_gate
    # A neighbour in the queue, projected before the page is read (its "next" link is the check).
    projected_gate(start_loan(temporal, portal, loan_input(submitted_by="intake")))
    client = logged_in(officer)
    gate = claimed(client, gate)
    page = client.get(f"/gates/{gate.gate_id}/").content.decode()

    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"/gates/{gate.gate_id}/decide/", form(gate), headers=HTMX)

    statements = [q["sql"] for q in queries.captured_queries]
    listing = "\n".join(sql[:160] for sql in statements)
    body = response.content.decode()
    assert response.status_code == 200 and "Approval recorded by the agent." in body
    assert len(statements) <= MAX_QUERIES, f"{len(statements)} queries:\n{listing}"
    # Recorded first in one statement, answered in one; never read back.
    writes = [
        sql.split()[0]
        for sql in statements
        if sql.startswith(("INSERT INTO", "UPDATE")) and '"inbox_actionattempt"' in sql.split("SET")[0]
    ]
    assert writes[:2] == ["INSERT", "UPDATE"], listing
    # Not read back, unless the worker's publish accepted the action first (a race it may win):
    # then the UPDATE matches nothing, and the row is read once for what it says.
    assert sum(sql.startswith('SELECT "inbox_actionattempt"') for sql in statements) <= 1, listing
    # Only the panel: no queue neighbours read, no workspace or page around it.
    assert 'rel="next"' in page and not any('"deadline" >' in sql for sql in statements), listing
    assert body.lstrip().startswith('<section class="card decision" id="decision-panel"')
    assert 'id="gate-workspace"' not in body and 'id="gate-case"' not in body and "<html" not in body
    assert 'rel="next"' not in body and "HX-Retarget" not in response
    assert workflow_gate(temporal, handle).status == "approved"
    assert ActionAttempt.objects.get(gate_id=gate.gate_id, action="decide").status == "accepted"


def test_a_change_request_brings_the_case_column_out_of_band_with_the_revision_poll(
    temporal, portal, officer, loan_gate
):
    _handle, gate = loan_gate
    client = logged_in(officer)
    gate = claimed(client, gate)

    response = client.post(
        f"/gates/{gate.gate_id}/decide/",
        form(gate, "request_changes", "Verify the income first."),
        headers=HTMX,
    )

    body = response.content.decode()
    panel, _, column = body.partition('<div id="gate-case" hx-swap-oob="true">')
    assert "Change request recorded by the agent." in panel and 'id="decision-panel"' in panel
    # The column the page polls in while the agent revises (or already its new recommendation).
    assert column and ("?wait=revision" in column or "Previous recommendations" in column)
    assert 'id="gate-workspace"' not in body and "HX-Retarget" not in response
    assert ActionAttempt.objects.get(gate_id=gate.gate_id, action="decide").status == "accepted"


def test_the_async_view_refuses_who_may_not_decide_and_a_post_without_csrf_sending_nothing(
    temporal, portal, officer, loan_gate
):
    handle, gate = loan_gate
    client = logged_in(officer)
    gate = claimed(client, gate)
    adviser = logged_in(make_user("adviser", "licensed_adviser"))
    submitter = logged_in(make_user("intake", "credit_officer"))  # four eyes: their own case
    no_csrf = Client(enforce_csrf_checks=True)
    no_csrf.force_login(officer)

    other_role = adviser.post(f"/gates/{gate.gate_id}/decide/", form(gate), headers=HTMX)
    own_case = submitter.post(f"/gates/{gate.gate_id}/decide/", form(gate), headers=HTMX)
    forged = no_csrf.post(f"/gates/{gate.gate_id}/decide/", form(gate), headers=HTMX)
    anonymous = Client().post(f"/gates/{gate.gate_id}/decide/", form(gate), headers=HTMX)
    wrong_method = client.get(f"/gates/{gate.gate_id}/decide/")

    assert other_role.status_code == 404
    assert own_case.status_code == 409 and "Four-eyes rule" in own_case.content.decode()
    assert forged.status_code == 403
    # htmx is told to load the login page whole, and to come back to the gate (not to the POST)
    assert anonymous.status_code == 204 and anonymous["HX-Redirect"].startswith("/accounts/login/?next=")
    assert "decide" not in anonymous["HX-Redirect"]
    assert wrong_method.status_code == 405
    assert not ActionAttempt.objects.filter(gate_id=gate.gate_id, action="decide").exists()
    assert workflow_gate(temporal, handle).status == "pending"


def test_a_tampered_form_is_refused_with_400_and_nothing_recorded_or_sent(temporal, portal, officer):
    handle = start_loan(temporal, portal, loan_input(DECLINABLE, submitted_by="intake"))
    client = logged_in(officer)
    gate = claimed(client, projected_gate(handle))
    fields = form(gate, keyboard="on")
    asked = client.post(f"/gates/{gate.gate_id}/decide/", fields, headers=HTMX).content.decode()
    token = TOKEN.search(asked).group(1)

    switched = {**fields, "decision": "reject", "confirmed": "on", "confirm_token": token}
    forged_token = {**fields, "confirmed": "on", "confirm_token": token[:-4] + "AAAA"}
    bad_revision = {**fields, "revision": "-1"}
    responses = [
        client.post(f"/gates/{gate.gate_id}/decide/", data, headers=HTMX)
        for data in (switched, forged_token, bad_revision)
    ]

    assert "Confirm approval" in asked
    assert [r.status_code for r in responses] == [400, 400, 400]
    assert "nothing was sent" in responses[0].content.decode()
    assert not ActionAttempt.objects.filter(gate_id=gate.gate_id, action="decide").exists()
    assert workflow_gate(temporal, handle).status == "pending"


ODD = "Ok \U0001f600 e\u0301 \U00020000 Ünïcödé <b>&amp;</b> 'quoted' \u05e9\u05dc\u05d5\u05dd"


def test_odd_unicode_in_a_reason_reads_the_same_in_the_reply_the_row_and_the_run(
    temporal, portal, officer, loan_gate
):
    handle, gate = loan_gate
    client = logged_in(officer)
    gate = claimed(client, gate)

    reply = client.post(f"/gates/{gate.gate_id}/decide/", form(gate, reason=ODD), headers=HTMX)

    # The reply is made from the Update's change in memory; the row from the projection write.
    body = reply.content.decode()
    assert reply.status_code == 200 and "Approval recorded by the agent." in body
    assert html.escape(ODD) in body and "<b>" not in body
    assert Gate.objects.get(gate_id=gate.gate_id).reason == ODD
    assert workflow_gate(temporal, handle).reason == ODD


def test_a_reason_with_invisible_characters_is_refused_in_the_runs_words_before_anything_is_sent(
    temporal, portal, officer, loan_gate
):
    """The form applies the run's own input rules (tests/test_form_input_rules.py): the same words,
    and nothing recorded to be sent only to be refused."""
    handle, gate = loan_gate
    client = logged_in(officer)
    gate = claimed(client, gate)

    reply = client.post(f"/gates/{gate.gate_id}/decide/", form(gate, reason="Ok \u202egnp.exe"), headers=HTMX)

    assert reply.status_code == 400
    assert "The reason contains invisible characters (U+202E)." in reply.content.decode()
    assert not ActionAttempt.objects.filter(gate_id=gate.gate_id, action="decide").exists()
    assert Gate.objects.get(gate_id=gate.gate_id).status == "pending"
    assert workflow_gate(temporal, handle).status == "pending"


@pytest.mark.parametrize("reason", ["x" * 100_001, "a nul \x00 byte"], ids=["oversize", "nul"])
def test_an_oversize_or_nul_reason_is_refused_with_400_and_nothing_recorded_or_sent(
    temporal, portal, officer, loan_gate, reason
):
    handle, gate = loan_gate
    client = logged_in(officer)
    gate = claimed(client, gate)

    reply = client.post(f"/gates/{gate.gate_id}/decide/", form(gate, reason=reason), headers=HTMX)

    assert reply.status_code == 400 and 'id="decision-panel"' in reply.content.decode()
    assert not ActionAttempt.objects.filter(gate_id=gate.gate_id, action="decide").exists()
    assert workflow_gate(temporal, handle).status == "pending"


def test_without_htmx_a_decision_redirects_to_the_gate_page_which_says_what_happened(
    temporal, portal, officer, loan_gate
):
    handle, gate = loan_gate
    client = logged_in(officer)
    gate = claimed(client, gate)

    response = client.post(f"/gates/{gate.gate_id}/decide/", form(gate))
    page = client.get(response["Location"]).content.decode()

    assert response.status_code == 302 and response["Location"] == f"/gates/{gate.gate_id}/"
    assert "Approval recorded by the agent." in page
    assert workflow_gate(temporal, handle).status == "approved"

"""The gate page's workspace actions against the real dev server: claim, unclaim and assign (the
`assign` Update), request changes with the reopened gate's revisions, preset rejection reasons,
queue neighbours for n / p, and forged input."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.forms import DecisionForm
from reviewer_portal.inbox.grounds import rejection_grounds
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.services import gate_assign
from tests.conftest import (
    decide,
    event_types,
    in_threads,
    loan_input,
    logged_in,
    make_user,
    projected_gate,
    start_loan,
)

COMPLETED = "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def officer(portal_settings):
    return make_user("officer", "credit_officer")


def post_action(client: Client, gate: Gate, action: str, htmx: bool = True, **fields):
    """POST the gate page's claim / unclaim / assign form; `fields` adds e.g. assignee."""
    data = {"submission_id": str(uuid.uuid4()), **fields}
    return client.post(f"/gates/{gate.gate_id}/{action}/", data, headers=HTMX if htmx else {})


def workflow_gate(temporal, handle):
    return temporal.run(handle.query(AgentWorkflow.gate))


def test_claim_shows_the_holder_and_unclaim_releases_the_gate(temporal, portal, officer, loan_gate):
    handle, gate = loan_gate
    client = logged_in(officer)
    assert "<strong>Unclaimed</strong>" in client.get(f"/gates/{gate.gate_id}/").content.decode()

    claimed = post_action(client, gate, "claim")

    page = claimed.content.decode()
    assert claimed.status_code == 200 and "<html" not in page  # the decision panel, in place
    assert "You claimed this gate." in page and "Claimed by <strong>officer</strong> (you)" in page
    assert workflow_gate(temporal, handle).assignee == "officer"
    assert Gate.objects.get(gate_id=gate.gate_id).assignee == "officer"

    released = post_action(client, gate, "unclaim").content.decode()

    assert "Gate released" in released and "<strong>Unclaimed</strong>" in released
    assert workflow_gate(temporal, handle).assignee == ""
    assert Gate.objects.get(gate_id=gate.gate_id).assignee == ""
    assert event_types(temporal, handle).count(COMPLETED) == 2  # both are in the run's history


def test_a_gate_someone_else_holds_offers_no_decision_and_refuses_their_claim(
    temporal, portal, officer, loan_gate
):
    handle, gate = loan_gate
    post_action(logged_in(officer), gate, "claim")
    other = logged_in(make_user("other", "credit_officer"))

    page = other.get(f"/gates/{gate.gate_id}/").content.decode()
    claim = post_action(other, gate, "claim").content.decode()
    decision = decide(other, gate, reason="fine").content.decode()

    assert "Claimed by <strong>officer</strong>" in page
    assert 'value="approve"' not in page and "Only officer decides this gate" in page
    assert 'action="/gates/' + gate.gate_id + '/claim/"' not in page
    assert "This gate is claimed by officer." in claim
    assert "Approval refused: This gate is claimed by officer." in decision
    assert workflow_gate(temporal, handle).status == "pending"


def test_two_reviewers_claiming_at_once_get_one_winner_and_the_other_is_told_who(
    temporal, portal, officer, loan_gate
):
    handle, gate = loan_gate
    rival = make_user("rival", "credit_officer")

    pages = in_threads(lambda u: post_action(logged_in(u), gate, "claim"), [officer, rival])

    winner = workflow_gate(temporal, handle).assignee
    assert winner in ("officer", "rival")
    texts = {u: p.content.decode() for u, p in zip(["officer", "rival"], pages, strict=True)}
    loser = "rival" if winner == "officer" else "officer"
    assert "You claimed this gate." in texts[winner]
    assert f"This gate is claimed by {winner}." in texts[loser]
    # The loser's panel is caught up with the workflow, not left showing the gate unclaimed.
    assert f"Claimed by <strong>{winner}</strong>" in texts[loser]
    assert Gate.objects.get(gate_id=gate.gate_id).assignee == winner


def test_assign_offers_active_role_holders_but_not_the_submitter_and_reaches_the_workflow(
    temporal, portal, officer, loan_gate
):
    handle, gate = loan_gate
    make_user("colleague", "credit_officer")
    make_user("intake", "credit_officer")  # the loan's submitter
    make_user("compliance", "compliance_reviewer")
    gone = make_user("gone", "credit_officer")
    gone.is_active = False
    gone.save()
    client = logged_in(officer)

    page = client.get(f"/gates/{gate.gate_id}/").content.decode()
    assigned = post_action(client, gate, "assign", assignee="colleague").content.decode()

    options = page.split('id="assign_assignee"', 1)[1].split("</select>", 1)[0]
    assert 'value="colleague"' in options
    assert not any(f'value="{u}"' in options for u in ("officer", "intake", "compliance", "gone"))
    assert "Gate assigned to colleague." in assigned and "Claimed by <strong>colleague</strong>" in assigned
    assert workflow_gate(temporal, handle).assignee == "colleague"


def test_the_workflow_refuses_an_assignee_without_the_role_or_the_submitter(
    temporal, portal, officer, loan_gate
):
    handle, gate = loan_gate
    compliance = make_user("compliance", "compliance_reviewer")
    submitter = make_user("intake", "credit_officer")

    no_role = gate_assign(gate=gate, reviewer=officer, assignee=compliance, submission_id="s-1")
    four_eyes = gate_assign(gate=gate, reviewer=officer, assignee=submitter, submission_id="s-2")
    own_claim = gate_assign(gate=gate, reviewer=submitter, assignee=submitter, submission_id="s-3")

    assert (no_role.status, no_role.detail) == (
        "refused",
        "compliance does not have the role 'credit_officer'.",
    )
    assert (four_eyes.status, four_eyes.detail) == ("refused", "Four-eyes rule: intake submitted this case.")
    assert own_claim.status == "refused" and "Four-eyes rule" in own_claim.detail
    assert workflow_gate(temporal, handle).assignee == ""
    assert COMPLETED not in event_types(temporal, handle)
    # The submitter is not offered the claim button either.
    assert "/claim/" not in logged_in(submitter).get(f"/gates/{gate.gate_id}/").content.decode()


def test_a_supervisor_reassigns_a_gate_someone_else_holds_but_a_peer_may_not(
    temporal, portal, officer, loan_gate
):
    handle, gate = loan_gate
    post_action(logged_in(officer), gate, "claim")
    make_user("colleague", "credit_officer")
    peer = logged_in(make_user("peer", "credit_officer"))
    senior = logged_in(make_user("senior", "senior_credit_officer"))

    peer_page = peer.get(f"/gates/{gate.gate_id}/").content.decode()
    refused = post_action(peer, gate, "assign", assignee="colleague").content.decode()
    senior_page = senior.get(f"/gates/{gate.gate_id}/").content.decode()
    reassigned = post_action(senior, gate, "assign", assignee="colleague").content.decode()

    assert "/assign/" not in peer_page
    assert "This gate is claimed by officer." in refused
    # The senior holds no credit officer role, yet sees the gate they supervise, without Approve.
    assert "Reassign to" in senior_page and 'value="approve"' not in senior_page
    assert "Gate assigned to colleague." in reassigned
    assert workflow_gate(temporal, handle).assignee == "colleague"


def test_an_admin_may_release_a_gate_someone_else_holds(temporal, portal, officer, loan_gate):
    handle, gate = loan_gate
    post_action(logged_in(officer), gate, "claim")
    admin = logged_in(make_user("root", superuser=True))

    released = post_action(admin, gate, "unclaim").content.decode()

    assert "Gate released" in released
    assert workflow_gate(temporal, handle).assignee == ""


def test_request_changes_reopens_the_gate_with_the_revision_listed(temporal, portal, officer, loan_gate):
    handle, gate = loan_gate
    client = logged_in(officer)
    post_action(client, gate, "claim")  # a loan gate is decided by the reviewer who holds it
    before = client.get(f"/gates/{gate.gate_id}/").content.decode()
    instructions = "Refer it: the income is not verified yet."

    sent = decide(client, gate, decision="request_changes", reason=instructions)
    reopened = projected_gate(handle, version=4)  # claimed (2), sent back (3), reopened (4)
    page = client.get(f"/gates/{gate.gate_id}/").content.decode()

    assert 'value="request_changes"' in before
    assert sent.status_code == 200 and "Change request recorded by the agent." in sent.content.decode()
    assert 'id="gate-case" hx-swap-oob="true"' in sent.content.decode()  # the case column comes along
    assert reopened.status == "pending" and reopened.recommendation == "refer"
    assert reopened.revisions[0]["outcome"] == "approve"
    assert "Previous recommendations" in page and "revision 2" in page
    assert instructions in page and "Sent back by <strong>officer</strong>" in page
    assert "Revised after review" in page and 'value="approve"' in page

    approved = decide(client, Gate.objects.get(gate_id=gate.gate_id), reason="Refer accepted")
    assert "Approval recorded by the agent." in approved.content.decode()
    result = temporal.run(handle.result())
    assert result.outcome == "approved" and result.gate.revisions[0].instructions == instructions


def test_the_page_polls_while_the_agent_revises_and_swaps_in_the_reopened_gate(
    temporal, portal, officer, loan_gate
):
    _handle, gate = loan_gate
    client = logged_in(officer)
    url = f"/gates/{gate.gate_id}/?wait=revision"
    Gate.objects.filter(gate_id=gate.gate_id).update(status="changes_requested", decided_by="officer")

    waiting = client.get(url, headers=HTMX)
    panel = client.get(f"/gates/{gate.gate_id}/").content.decode()
    Gate.objects.filter(gate_id=gate.gate_id).update(status="pending", decided_by="")
    back = client.get(url, headers=HTMX)

    assert "Sent back to the agent" in panel and f'hx-get="{url}"' in panel
    assert waiting.status_code == 204
    assert back.status_code == 200 and 'id="gate-workspace"' in back.content.decode()
    assert "<html" not in back.content.decode()


def test_request_changes_without_instructions_is_refused(temporal, portal, officer, loan_gate):
    handle, gate = loan_gate
    response = decide(logged_in(officer), gate, decision="request_changes", reason=" ")
    assert "Change request refused: Say what the agent should change." in response.content.decode()
    assert workflow_gate(temporal, handle).status == "pending"


@pytest.mark.parametrize(
    ("preset", "text", "sent"),
    [
        ("Policy breach", "Debt-to-income above 45%", "Policy breach: Debt-to-income above 45%"),
        ("Duplicate application", "", "Duplicate application"),
        ("Other", "Applicant withdrew", "Other: Applicant withdrew"),
        ("", "Free text only", "Free text only"),
    ],
)
def test_a_rejection_sends_its_preset_grounds_with_the_free_text(
    temporal, portal, officer, loan_gate, preset, text, sent
):
    handle, gate = loan_gate
    response = decide(logged_in(officer), gate, decision="reject", reason=text, preset=preset, htmx=False)
    assert response.status_code == 302
    assert ActionAttempt.objects.get(gate=gate, action="decide").reason == sent
    assert temporal.run(handle.result()).gate.reason == sent


def test_other_without_free_text_is_asked_for_in_place(temporal, portal, officer, loan_gate):
    _handle, gate = loan_gate
    response = decide(logged_in(officer), gate, decision="reject", reason="", preset="Other")
    assert response.status_code == 400  # htmx-config swaps 400 in place
    assert "With “Other”, say why in your own words." in response.content.decode()
    assert not ActionAttempt.objects.filter(action="decide").exists()


def test_a_refused_rejection_keeps_its_grounds_and_text_in_the_form():
    loan_grounds = rejection_grounds("loans", "loan_decision")
    initial = DecisionForm.initial_reason("reject", "Outside risk appetite: sector exposure", loan_grounds)
    assert initial == {"preset": "Outside risk appetite", "reason": "sector exposure"}
    assert DecisionForm.initial_reason("reject", "Policy breach", loan_grounds) == {
        "preset": "Policy breach",
        "reason": "",
    }


def test_each_gate_kind_offers_its_agents_grounds_and_an_unknown_one_the_generic_few():
    compliance = rejection_grounds("regulatory", "compliance_finding")
    loans = rejection_grounds("loans", "loan_decision")
    unknown = rejection_grounds("claims", "claim_payment")

    assert "Wrong rule cited" in compliance and "Outside risk appetite" not in compliance
    assert "Outside risk appetite" in loans and loans[-1] == "Other"
    assert unknown == ("Insufficient evidence", "Policy breach", "Other")
    form = DecisionForm(grounds=compliance)
    assert [value for value, _ in form.fields["preset"].choices][1:] == list(compliance)
    assert DecisionForm.initial_reason("approve", "Policy breach: no") == {"reason": "Policy breach: no"}


def test_next_and_previous_follow_the_users_queue_by_deadline(temporal, portal, officer):
    handles = [
        start_loan(temporal, portal, loan_input(submitted_by="intake", sla_seconds=hours * 3600))
        for hours in (3, 1, 2)
    ]
    late, soon, middle = (projected_gate(h) for h in handles)

    page = logged_in(officer).get(f"/gates/{middle.gate_id}/").content.decode()
    first = logged_in(officer).get(f"/gates/{soon.gate_id}/").content.decode()

    assert f'href="/gates/{soon.gate_id}/" rel="prev" aria-keyshortcuts="p"' in page
    assert f'href="/gates/{late.gate_id}/" rel="next" aria-keyshortcuts="n"' in page
    assert 'rel="prev"' not in first
    for handle in handles:
        temporal.run(handle.terminate("test done"))


@pytest.mark.parametrize(
    ("action", "fields"),
    [
        ("claim", {"submission_id": "not-a-uuid"}),
        ("unclaim", {}),
        ("assign", {"assignee": "nobody-like-this"}),
        ("assign", {"assignee": ""}),
    ],
    ids=["claim-bad-submission-id", "unclaim-no-submission-id", "assign-forged-user", "assign-no-user"],
)
def test_forged_assignment_forms_get_400_and_send_nothing(
    temporal, portal, officer, loan_gate, action, fields
):
    handle, gate = loan_gate
    make_user("colleague", "credit_officer")
    data = {"submission_id": str(uuid.uuid4()), **fields} if action != "unclaim" else fields
    response = logged_in(officer).post(f"/gates/{gate.gate_id}/{action}/", data, headers=HTMX)
    assert response.status_code == 400
    assert COMPLETED not in event_types(temporal, handle)


def test_a_forged_preset_gets_400(temporal, portal, officer, loan_gate):
    _handle, gate = loan_gate
    response = decide(logged_in(officer), gate, decision="reject", reason="x", preset="Because")
    assert response.status_code == 400
    assert not ActionAttempt.objects.filter(action="decide").exists()


def test_assignment_needs_login_csrf_and_a_visible_gate(temporal, portal, officer, loan_gate):
    handle, gate = loan_gate
    csrf_checked = Client(enforce_csrf_checks=True)
    csrf_checked.force_login(officer)
    compliance = logged_in(make_user("compliance", "compliance_reviewer"))
    auditor = logged_in(make_user("auditor", "auditor"))

    signed_out = post_action(Client(), gate, "claim")
    # htmx is told to load the login page whole, and to come back to the gate, not to the POST
    assert signed_out.status_code == 204 and signed_out["HX-Redirect"].startswith("/accounts/login/?next=")
    assert post_action(Client(), gate, "claim", htmx=False).status_code == 302  # a form: to the login page
    assert post_action(csrf_checked, gate, "claim").status_code == 403
    assert post_action(compliance, gate, "claim").status_code == 404
    assert post_action(auditor, gate, "claim").status_code == 409  # sees the gate, may not claim it
    assert logged_in(officer).get(f"/gates/{gate.gate_id}/claim/").status_code == 405
    assert COMPLETED not in event_types(temporal, handle)


def test_without_javascript_a_claim_redirects_with_the_outcome(temporal, portal, officer, loan_gate):
    _, gate = loan_gate
    client = logged_in(officer)
    response = post_action(client, gate, "claim", htmx=False)
    assert response.status_code == 302 and response["Location"] == f"/gates/{gate.gate_id}/"
    assert "You claimed this gate." in client.get(response["Location"]).content.decode()

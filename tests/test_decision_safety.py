"""No one-key decisions against the AI (issue 11, item 1): a decision against the AI's verdict, or
one made with a keyboard shortcut, is confirmed with a reason before anything is recorded or
sent; a tampered confirmation is refused with nothing sent; a loan gate is claimed before it is
decided, in the portal and in the workflow's Update validator alike."""

from __future__ import annotations

import dataclasses
import html
import re
import uuid

import pytest
from django.test import Client
from temporalio.client import WorkflowUpdateFailedError

from agents.framework import gates
from agents.framework.contract import OPERATOR
from agents.framework.types import GateSnapshot, Recommendation
from agents.framework.workflow import AgentWorkflow
from agents.loans.intake import LoanApplication
from reviewer_portal.inbox.confirmation import against_ai, confirm_step
from reviewer_portal.inbox.models import ActionAttempt, Gate
from tests import actions
from tests.conftest import (
    DECLINABLE,
    loan_input,
    logged_in,
    make_user,
    projected_gate,
    start_loan,
)
from tests.test_gate_rules import NOW, gate

HTMX = {"HX-Request": "true"}
REFERRABLE = LoanApplication("Tomasz Nowak", 9_500, 36, "car", 41_000, 900, 668)
TOKEN = re.compile(r'name="confirm_token" value="([^"]+)"')


def snapshot(**fields) -> GateSnapshot:
    """The rules tests' gate, referred by the AI, under a policy that requires a claim."""
    return gate(**{"recommendation": Recommendation("refer", "check"), "claim_required": True, **fields})


# --- the rule, as a pure function ---------------------------------------------------------------


def test_a_claim_required_gate_refuses_a_decision_until_the_reviewer_holds_it():
    update = actions.decide_input("loan-x--g1", reason="ok")
    refusal = gates.decision_refusal(snapshot(), update, NOW)
    held = snapshot(assignee="officer", assignee_id=actions.person_id("officer"))
    optional = snapshot(claim_required=False)

    assert refusal == "Claim this gate to decide it: its policy lets only the reviewer who holds it decide."
    assert gates.decision_refusal(held, update, NOW) is None
    assert gates.decision_refusal(optional, update, NOW) is None


def test_an_admins_operator_override_needs_no_claim_but_still_a_reason():
    override = actions.decide_input(
        "loan-x--g1", reason="cover", reviewer="root", roles=["admin"], origin=OPERATOR
    )
    assert gates.decision_refusal(snapshot(), override, NOW) is None


def test_a_snapshot_recorded_before_claims_were_required_decodes_without_one():
    from temporalio.converter import value_to_type

    old = {f.name: getattr(snapshot(), f.name) for f in dataclasses.fields(GateSnapshot)}
    del old["claim_required"]
    old["recommendation"] = {"outcome": "refer", "rationale": "check"}
    assert value_to_type(GateSnapshot, old).claim_required is False


# --- the portal, against a real run ---------------------------------------------------------------


@pytest.fixture
def officer(portal_settings):
    return make_user("officer", "credit_officer")


def loan(temporal, portal, application: LoanApplication) -> tuple:
    handle = start_loan(temporal, portal, loan_input(application))
    return handle, projected_gate(handle)


def claim(client: Client, gate: Gate) -> None:
    response = client.post(
        f"/gates/{gate.gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers=HTMX
    )
    assert "You claimed this gate." in response.content.decode()


def post(client: Client, gate: Gate, htmx: bool = True, **fields):
    data = {"submission_id": str(uuid.uuid4()), "revision": "0", "reason": "", **fields}
    return client.post(f"/gates/{gate.gate_id}/decide/", data, headers=HTMX if htmx else {})


def sent_decisions(gate: Gate) -> int:
    return ActionAttempt.objects.filter(gate=gate, action=ActionAttempt.Action.DECIDE).count()


def workflow_status(temporal, handle) -> str:
    return temporal.run(handle.query(AgentWorkflow.gate)).status


def test_pressing_a_on_a_refer_loan_asks_to_confirm_with_a_reason_and_sends_nothing(
    temporal, portal, officer
):
    handle, gate = loan(temporal, portal, REFERRABLE)
    client = logged_in(officer)
    claim(client, gate)

    asked = post(client, gate, decision="approve", keyboard="on")

    page = asked.content.decode()
    assert gate.recommendation == "refer"
    assert asked.status_code == 200 and "<html" not in page  # the panel, in place
    assert "The AI recommended Refer. Approve anyway?" in page
    assert "Confirm approval" in page and ">Cancel</a>" in page
    assert re.search(r'<textarea id="confirm-reason" name="reason"[^>]* required', page)
    assert 'aria-keyshortcuts="a"' not in page  # a second `a` cannot confirm it
    assert sent_decisions(gate) == 0 and workflow_status(temporal, handle) == "pending"

    step = page[page.index('class="confirm-decision"') :]
    submission = re.search(r'name="submission_id" value="([^"]+)"', step).group(1)
    token = html.unescape(TOKEN.search(page).group(1))
    done = post(
        client,
        gate,
        decision="approve",
        confirmed="on",
        confirm_token=token,
        submission_id=submission,
        reason="Referral reason checked: income verified by payslips.",
    )

    assert "Approval recorded by the agent." in done.content.decode()
    result = temporal.run(handle.result())
    assert result.outcome == "approved"
    assert result.gate.reason == "Referral reason checked: income verified by payslips."


def test_a_mouse_approval_against_a_decline_is_asked_but_one_with_the_ai_goes_straight_through(
    temporal, portal, officer
):
    declined_handle, declined = loan(temporal, portal, DECLINABLE)
    client = logged_in(officer)
    claim(client, declined)

    asked = post(client, declined, decision="approve").content.decode()
    rejected = post(client, declined, decision="reject", reason="Score too low").content.decode()

    assert declined.recommendation == "decline"
    assert "The AI recommended Decline. Approve anyway?" in asked
    assert sent_decisions(declined) == 1  # only the rejection, which agrees with the AI
    assert "Rejection recorded by the agent." in rejected
    assert temporal.run(declined_handle.result()).outcome == "rejected"


def test_cancel_goes_back_to_the_decision_form(temporal, portal, officer):
    _handle, gate = loan(temporal, portal, REFERRABLE)
    client = logged_in(officer)
    claim(client, gate)
    post(client, gate, decision="reject", keyboard="on", reason="Too much debt")

    panel = client.get(f"/gates/{gate.gate_id}/?panel=decision", headers=HTMX).content.decode()

    assert 'value="approve"' in panel and "Approve anyway?" not in panel
    assert sent_decisions(gate) == 0


def test_tampered_confirmations_are_refused_clearly_and_send_nothing(temporal, portal, officer):
    handle, gate = loan(temporal, portal, REFERRABLE)
    other_handle, other = loan(temporal, portal, REFERRABLE)
    client = logged_in(officer)
    claim(client, gate)
    claim(client, other)
    submission = str(uuid.uuid4())
    page = post(client, gate, decision="approve", keyboard="on", submission_id=submission).content.decode()
    token = html.unescape(TOKEN.search(page).group(1))
    for_other = html.unescape(
        TOKEN.search(
            post(client, other, decision="approve", keyboard="on", submission_id=submission).content.decode()
        ).group(1)
    )
    why = "Because I say so"
    tampered = {
        "confirmed without the step": {"decision": "approve", "confirmed": "on", "reason": why},
        "decision switched at the step": {
            "decision": "reject",
            "confirmed": "on",
            "confirm_token": token,
            "reason": why,
        },
        "another gate's token": {
            "decision": "approve",
            "confirmed": "on",
            "confirm_token": for_other,
            "reason": why,
        },
        "a forged token": {
            "decision": "approve",
            "confirmed": "on",
            "confirm_token": token[:-4] + "AAAA",
            "reason": why,
        },
        "an oversize odd token": {
            "decision": "approve",
            "confirmed": "on",
            "confirm_token": "\u202e\U0001f600" * 999,
            "reason": why,
        },
        "edits added at the step": {
            "decision": "approve",
            "confirmed": "on",
            "confirm_token": token,
            "reason": why,
            "preset": "Policy breach",
        },
    }

    for name, fields in tampered.items():
        response = post(client, gate, submission_id=submission, **fields)
        body = response.content.decode()
        assert response.status_code == 400, name
        assert (
            "does not match the decision you were asked to confirm" in body
            or "Select a valid choice" in body
            or "at most" in body
        ), name

    # A colleague who saw the step (its token and form id) cannot confirm it as their own.
    colleague = logged_in(make_user("colleague", "credit_officer"))
    stolen = post(
        colleague,
        gate,
        submission_id=submission,
        decision="approve",
        confirmed="on",
        confirm_token=token,
        reason=why,
    )
    assert stolen.status_code == 400
    assert "does not match the decision you were asked to confirm" in stolen.content.decode()

    no_reason = post(
        client,
        gate,
        decision="approve",
        confirmed="on",
        confirm_token=token,
        submission_id=submission,
        reason="  ",
    )
    assert no_reason.status_code == 400
    assert "Say why you are confirming this decision; nothing was sent." in no_reason.content.decode()
    assert "Confirm approval" in no_reason.content.decode()  # the step is asked again, in place
    assert sent_decisions(gate) == 0 and workflow_status(temporal, handle) == "pending"
    assert sent_decisions(other) == 0 and workflow_status(temporal, other_handle) == "pending"


def test_rejecting_an_action_the_ai_proposes_is_against_it_and_approving_it_is_not():
    finding = Gate(
        gate_id="reg-x--g1",
        agent="regulatory",
        kind="finding",
        recommendation="regulatory.record_finding",
        tool_call={"name": "regulatory.record_finding", "arguments": {}},
    )
    data = {"decision": "reject", "submission_id": uuid.uuid4(), "revision": 0, "reviewer": "1"}

    step = confirm_step(finding, data, keyboard=False)

    assert against_ai(finding, "reject") and not against_ai(finding, "approve")
    assert step is not None and step.question == "The AI recommended Record finding. Reject anyway?"
    assert confirm_step(finding, {**data, "decision": "approve"}, keyboard=False) is None


def test_a_loan_gate_is_claimed_before_it_is_decided_in_the_portal(temporal, portal, officer):
    handle, gate = loan(temporal, portal, REFERRABLE)
    client = logged_in(officer)

    page = client.get(f"/gates/{gate.gate_id}/").content.decode()
    refused = post(client, gate, decision="reject", reason="No")

    assert Gate.objects.get(pk=gate.pk).claim_required
    assert "Claim this gate to decide it" in page and 'aria-keyshortcuts="c"' in page
    assert 'value="approve"' not in page and 'value="reject"' not in page
    assert refused.status_code == 409 and "Claim this gate to decide it." in refused.content.decode()
    assert sent_decisions(gate) == 0 and workflow_status(temporal, handle) == "pending"

    claim(client, gate)
    claimed = client.get(f"/gates/{gate.gate_id}/").content.decode()
    assert 'value="approve"' in claimed and "Claim this gate to decide it" not in claimed


def test_a_raw_update_without_a_claim_is_refused_by_the_workflow(temporal, worker):
    handle = start_loan(temporal, worker, loan_input(REFERRABLE))
    from tests.conftest import wait_for_gate

    gate = wait_for_gate(temporal, handle)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        actions.decide(temporal, handle, gate.gate_id, reason="straight in", claim_first=False)

    assert gate.claim_required
    assert "Claim this gate to decide it" in refused.value.cause.message
    assert temporal.run(handle.query(AgentWorkflow.gate)).status == "pending"

    actions.assign(temporal, handle, gate.gate_id, "officer", actions.OFFICER, "officer")
    actions.decide(temporal, handle, gate.gate_id, reason="claimed, then decided", claim_first=False)
    assert temporal.run(handle.result()).gate.decided_by == "officer"

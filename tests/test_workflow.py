"""The shared agent workflow with the loan agent, on the real Temporal dev server."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from agents.framework.contract import PUBLISH_CHANGE_ACTIVITY, PUBLISH_LOCAL_ACTIVITY
from agents.framework.gate_changes import GatePublication
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.publishing import publish_gate_change
from tests import actions
from tests.conftest import (
    DECLINABLE,
    activity_names,
    event_types,
    loan_input,
    record_history,
    start_loan,
    wait_for_gate,
)

pytestmark = pytest.mark.once  # the framework's workflow on Temporal, not the portal's database: one CI pass

OFFICER = ["credit_officer"]
UPDATE_EVENTS = (
    "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
    "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED",
)


def decide(
    temporal,
    handle,
    gate_id,
    decision="approve",
    reason="",
    reviewer="officer",
    roles=OFFICER,
    update_id=None,
):
    return actions.decide(temporal, handle, gate_id, decision, reason, reviewer, roles, update_id=update_id)


def test_approve_runs_the_offer_and_nothing_runs_before_the_decision(temporal, worker):
    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)
    assert gate.recommendation.outcome == "approve"
    assert gate.offline_model and gate.model == "offline model"
    assert [r.name for r in gate.tool_results] == [
        "loans.credit_bureau",
        "loans.affordability",
        "loans.lending_policy_check",
    ]
    assert "loans.issue_offer" not in activity_names(temporal, handle)
    assert "loans.send_decline_notice" not in activity_names(temporal, handle)

    decide(temporal, handle, gate.gate_id, reason="Affordable, clean file")
    result = temporal.run(handle.result())

    assert result.outcome == "approved"
    assert result.action["action"] == "offer issued"
    assert result.action["approved_by"] == "officer"
    names = activity_names(temporal, handle)
    assert names.count("loans.issue_offer") == 1 and "loans.send_decline_notice" not in names
    projected = Gate.objects.get(gate_id=gate.gate_id)
    assert (projected.status, projected.decided_by) == ("approved", "officer")
    record_history(temporal, handle, "loan_approved")


def test_reject_runs_the_decline_notice(temporal, worker):
    handle = start_loan(temporal, worker, loan_input(DECLINABLE))
    gate = wait_for_gate(temporal, handle)
    assert gate.recommendation.outcome == "decline"

    decide(temporal, handle, gate.gate_id, decision="reject", reason="Score below policy minimum")
    result = temporal.run(handle.result())

    assert result.outcome == "rejected"
    assert result.action == {
        "action": "decline notice sent",
        "notice_id": result.action["notice_id"],
        "reason": "Score below policy minimum",
        "rejected_by": "officer",
    }
    assert "loans.issue_offer" not in activity_names(temporal, handle)
    record_history(temporal, handle, "loan_rejected")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"reviewer_roles": ["compliance_reviewer"]}, "Only a reviewer with the role 'credit_officer'"),
        ({"reviewer": "intake", "reviewer_id": actions.person_id("intake")}, "Four-eyes rule"),
        ({"decision": "reject", "reason": "   "}, "A rejection needs a reason."),
        ({"decision": "maybe"}, "Unknown decision 'maybe'"),
        ({"gate_id": "loan-elsewhere--g1"}, "does not exist in this agent run"),
        ({"reason": "x" * 2001}, "longer than 2000 characters"),
    ],
    ids=[
        "wrong-role",
        "four-eyes",
        "reject-without-reason",
        "unknown-decision",
        "unknown-gate",
        "long-reason",
    ],
)
def test_invalid_decisions_are_refused_and_leave_no_trace_in_history(temporal, worker, change, message):
    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)
    update = dataclasses.replace(actions.decide_input(gate.gate_id), **change)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        actions.send(temporal, handle, "decide", update, update_id="refused-1")

    assert message in refused.value.cause.message
    assert not set(UPDATE_EVENTS) & set(event_types(temporal, handle))
    assert temporal.run(handle.query(AgentWorkflow.gate)).status == "pending"
    temporal.run(handle.terminate("test done"))


def test_a_second_decision_is_refused_but_the_same_update_id_is_applied_once(temporal, worker):
    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)

    first = decide(temporal, handle, gate.gate_id, reason="ok", update_id="form-1")
    again = decide(temporal, handle, gate.gate_id, reason="ok", update_id="form-1")
    # The approval ends the run soon after: the reject meets the decided gate, or the ended run.
    # (tests/test_gate_rules.py checks the refusal's words without the race.)
    with pytest.raises((WorkflowUpdateFailedError, RPCError)) as refused:
        decide(
            temporal, handle, gate.gate_id, decision="reject", reason="changed my mind", update_id="form-2"
        )

    assert first.change.version == again.change.version == 3  # after the officer's claim (2)
    said = (
        getattr(refused.value.cause, "message", "")
        if refused.type is WorkflowUpdateFailedError
        else str(refused.value)
    )
    assert any(
        refusal in said
        for refusal in (
            "already decided (approved by officer)",
            "workflow execution already completed",
            "workflow update was aborted by closing workflow",  # admitted as the run closed
        )
    ), said
    assert temporal.run(handle.result()).outcome == "approved"  # the reject changed nothing
    assert event_types(temporal, handle).count(UPDATE_EVENTS[1]) == 2  # the claim and one decision


def test_sla_expiry_escalates_then_rejects_with_the_recorded_reason(temporal, worker):
    # Each state lasts long enough for the query's polls to see it on a loaded machine.
    handle = start_loan(temporal, worker, loan_input(sla_seconds=5, escalation_sla_seconds=5))
    gate = wait_for_gate(temporal, handle)
    assert gate.role == "credit_officer"

    escalated = wait_for_gate(temporal, handle, until=lambda g: g.escalation_level == 1)
    assert (escalated.role, escalated.escalation_level, escalated.status) == (
        "senior_credit_officer",
        1,
        "pending",
    )
    result = temporal.run(handle.result())

    assert result.outcome == "rejected"
    assert result.gate.decided_by == "system"
    assert "No credit decision within the SLA" in result.gate.reason
    assert result.action["action"] == "decline notice sent"
    assert "loans.issue_offer" not in activity_names(temporal, handle)
    assert Gate.objects.get(gate_id=gate.gate_id).status == "rejected"
    record_history(temporal, handle, "loan_warned_escalated_then_expired")


def test_an_expired_gate_refuses_a_late_decision(temporal, worker):
    handle = start_loan(temporal, worker, loan_input(sla_seconds=1, escalation_sla_seconds=3600))
    gate = wait_for_gate(temporal, handle)
    escalated = wait_for_gate(temporal, handle, until=lambda g: g.escalation_level == 1)
    assert escalated.role == "senior_credit_officer"

    # The officer's form was opened before the escalation: the gate is no longer theirs.
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        decide(temporal, handle, gate.gate_id)
    assert "Only a reviewer with the role 'senior_credit_officer'" in refused.value.cause.message

    decide(temporal, handle, gate.gate_id, reviewer="senior", roles=["senior_credit_officer"])
    assert temporal.run(handle.result()).outcome == "approved"
    record_history(temporal, handle, "loan_warned_escalated_then_approved")


def test_a_tool_that_keeps_failing_is_retried_then_shown_to_the_reviewer(temporal, worker):
    broken = dataclasses.replace(DECLINABLE, term_months=0)  # the calculator raises on this
    handle = start_loan(temporal, worker, loan_input(broken))
    gate = wait_for_gate(temporal, handle)

    affordability = next(r for r in gate.tool_results if r.name == "loans.affordability")
    assert not affordability.ok and "term and income must be positive" in affordability.error
    assert "loans.affordability" not in activity_names(temporal, handle)  # local: tests/test_local_tools.py
    assert gate.recommendation.outcome == "refer"
    assert "loans.affordability failed" in gate.recommendation.rationale
    temporal.run(handle.terminate("test done"))


def test_a_decision_arriving_while_the_gate_is_being_published_still_reaches_the_projection(
    temporal, transactional_db
):
    decided, calls = threading.Event(), itertools.count()

    @activity.defn(name=PUBLISH_LOCAL_ACTIVITY)
    def local_publish_fails(publication: GatePublication) -> bool:
        # A decision cannot arrive during a local publish (its workflow task is still running):
        # only during the task a failed one leaves (tests/test_local_publish.py).
        raise ApplicationError("the projection's database is locked")

    @activity.defn(name=PUBLISH_CHANGE_ACTIVITY)
    def slow_publish(publication: GatePublication) -> bool:
        if next(calls) == 0:  # the opening publish: the reviewer is faster than the projection
            decided.wait(10)
        return publish_gate_change(publication)

    with temporal.worker(portal_activities=[local_publish_fails, slow_publish]) as queue:
        handle = start_loan(temporal, queue)
        gate = wait_for_gate(temporal, handle)  # visible to the query before the publish ends
        decide(temporal, handle, gate.gate_id, reason="quick")
        decided.set()
        result = temporal.run(handle.result())

    assert result.outcome == "approved"
    assert activity_names(temporal, handle).count(PUBLISH_CHANGE_ACTIVITY) == 2
    projected = Gate.objects.get(gate_id=gate.gate_id)
    assert (projected.status, projected.version) == ("approved", 3)  # claimed (2), then decided
    record_history(temporal, handle, "loan_decided_during_publish")


def refusal(update) -> str:
    """The workflow's reason for refusing `update()` (which must be refused)."""
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        update()
    return refused.value.cause.message


def assign(temporal, handle, gate_id, reviewer, roles, assignee, assignee_roles=OFFICER):
    return actions.assign(temporal, handle, gate_id, reviewer, roles, assignee, assignee_roles)


def test_two_reviewers_claiming_at_once_one_wins_and_the_other_is_told_who(temporal, worker):
    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)

    def claim(reviewer):
        try:
            return assign(temporal, handle, gate.gate_id, reviewer, OFFICER, reviewer)
        except WorkflowUpdateFailedError as refused:
            return refused

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(claim, ["officer", "officer2"]))

    winners = [o.change.changes["assignee"] for o in outcomes if not isinstance(o, BaseException)]
    refusals = [o.cause.message for o in outcomes if isinstance(o, WorkflowUpdateFailedError)]
    assert len(winners) == 1 and refusals == [f"This gate is claimed by {winners[0]}."]
    loser = "officer2" if winners[0] == "officer" else "officer"
    assert f"claimed by {winners[0]}" in refusal(
        lambda: decide(temporal, handle, gate.gate_id, reviewer=loser)
    )
    decide(temporal, handle, gate.gate_id, reviewer=winners[0], reason="mine")
    assert temporal.run(handle.result()).gate.decided_by == winners[0]
    record_history(temporal, handle, "loan_claimed_then_approved")


def test_assignment_rules(temporal, worker):
    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)
    senior = ["senior_credit_officer"]

    assign(temporal, handle, gate.gate_id, "officer", OFFICER, "officer")
    assert "does not have the role 'credit_officer'" in refusal(
        lambda: assign(temporal, handle, gate.gate_id, "officer", OFFICER, "adviser", ["licensed_adviser"])
    )
    assert "Four-eyes rule: intake submitted" in refusal(
        lambda: assign(temporal, handle, gate.gate_id, "officer", OFFICER, "intake")
    )
    # Only the holder unclaims.
    assert "claimed by officer" in refusal(
        lambda: assign(temporal, handle, gate.gate_id, "officer2", OFFICER, "")
    )
    # A senior reassigns on absence; the new holder decides.
    moved = assign(temporal, handle, gate.gate_id, "senior", senior, "officer2")
    assert moved.change.changes["assignee"] == "officer2"
    assign(temporal, handle, gate.gate_id, "officer2", OFFICER, "")  # unclaim
    assert temporal.run(handle.query(AgentWorkflow.gate)).assignee == ""
    temporal.run(handle.terminate("test done"))


def test_request_changes_replans_and_the_same_gate_returns_with_a_new_recommendation(temporal, worker):
    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)
    assert gate.recommendation.outcome == "approve"

    assert "Say what the agent should change" in refusal(
        lambda: decide(temporal, handle, gate.gate_id, decision="request_changes", reason=" ")
    )
    decide(temporal, handle, gate.gate_id, decision="request_changes", reason="Refer: income unverified")
    revised = wait_for_gate(temporal, handle, until=lambda g: g.revisions and g.status == "pending")

    assert revised.gate_id == gate.gate_id and revised.status == "pending"
    assert revised.recommendation.outcome == "refer"
    assert "Revised after review (Refer: income unverified)" in revised.recommendation.rationale
    assert [(r.recommendation.outcome, r.requested_by, r.instructions) for r in revised.revisions] == [
        ("approve", "officer", "Refer: income unverified")
    ]
    decide(temporal, handle, gate.gate_id, reason="Referred case approved after checks")
    result = temporal.run(handle.result())
    assert result.outcome == "approved" and len(result.gate.revisions) == 1
    assert activity_names(temporal, handle).count("llm_complete") == 2  # one to plan, one to revise
    assert Gate.objects.get(gate_id=gate.gate_id).recommendation == "refer"
    record_history(temporal, handle, "loan_changes_requested_then_approved")


def test_a_hold_policy_keeps_the_gate_for_an_admin_instead_of_rejecting(temporal, worker):
    agent_input = loan_input(sla_seconds=1, escalation_sla_seconds=1)
    agent_input.spec.gate.final_outcome = "hold"
    handle = start_loan(temporal, worker, agent_input)
    wait_for_gate(temporal, handle)

    held = wait_for_gate(temporal, handle, until=lambda g: g.role == "admin")

    assert (held.status, held.role) == ("pending", "admin")
    assert held.needs_attention.startswith("Held for an admin:")
    decide(temporal, handle, held.gate_id, reviewer="root", roles=["admin"], reason="Checked by admin")
    assert temporal.run(handle.result()).outcome == "approved"

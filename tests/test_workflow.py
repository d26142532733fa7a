"""The shared agent workflow with the loan agent, on the real Temporal dev server."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError

from agents.framework.types import DecideInput, GateSnapshot
from agents.framework.workflow import PUBLISH_ACTIVITY, AgentWorkflow
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.projection import publish_gate
from tests.conftest import (
    DECLINABLE,
    activity_names,
    event_types,
    loan_input,
    record_history,
    start_loan,
    wait_for_gate,
)

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
    update = DecideInput(gate_id, decision, reason, reviewer, roles)
    return temporal.run(
        handle.execute_update(AgentWorkflow.decide, update, id=update_id or str(uuid.uuid4()))
    )


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
        ({"reviewer": "intake"}, "Four-eyes rule"),
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
    update = dataclasses.replace(DecideInput(gate.gate_id, "approve", "", "officer", OFFICER), **change)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        temporal.run(handle.execute_update(AgentWorkflow.decide, update, id="refused-1"))

    assert message in refused.value.cause.message
    assert not set(UPDATE_EVENTS) & set(event_types(temporal, handle))
    assert temporal.run(handle.query(AgentWorkflow.gate)).status == "pending"
    temporal.run(handle.terminate("test done"))


def test_a_second_decision_is_refused_but_the_same_update_id_is_applied_once(temporal, worker):
    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)

    first = decide(temporal, handle, gate.gate_id, reason="ok", update_id="form-1")
    again = decide(temporal, handle, gate.gate_id, reason="ok", update_id="form-1")
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        decide(
            temporal, handle, gate.gate_id, decision="reject", reason="changed my mind", update_id="form-2"
        )

    assert first.gate.version == again.gate.version == 2
    assert "already decided (approved by officer)" in refused.value.cause.message
    temporal.run(handle.result())
    assert event_types(temporal, handle).count(UPDATE_EVENTS[1]) == 1


def test_sla_expiry_escalates_then_rejects_with_the_recorded_reason(temporal, worker):
    handle = start_loan(temporal, worker, loan_input(sla_seconds=2, escalation_sla_seconds=2))
    gate = wait_for_gate(temporal, handle)
    assert gate.role == "credit_officer"

    escalated = wait_for_gate(temporal, handle, version=2)
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
    record_history(temporal, handle, "loan_escalated_then_expired")


def test_an_expired_gate_refuses_a_late_decision(temporal, worker):
    handle = start_loan(temporal, worker, loan_input(sla_seconds=1, escalation_sla_seconds=3600))
    gate = wait_for_gate(temporal, handle)
    escalated = wait_for_gate(temporal, handle, version=2)
    assert escalated.role == "senior_credit_officer"

    # The officer's form was opened before the escalation: the gate is no longer theirs.
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        decide(temporal, handle, gate.gate_id)
    assert "Only a reviewer with the role 'senior_credit_officer'" in refused.value.cause.message

    decide(temporal, handle, gate.gate_id, reviewer="senior", roles=["senior_credit_officer"])
    assert temporal.run(handle.result()).outcome == "approved"
    record_history(temporal, handle, "loan_escalated_then_approved")


def test_a_tool_that_keeps_failing_is_retried_then_shown_to_the_reviewer(temporal, worker):
    broken = dataclasses.replace(DECLINABLE, term_months=0)  # the calculator raises on this
    handle = start_loan(temporal, worker, loan_input(broken))
    gate = wait_for_gate(temporal, handle)

    affordability = next(r for r in gate.tool_results if r.name == "loans.affordability")
    assert not affordability.ok and "term and income must be positive" in affordability.error
    assert activity_names(temporal, handle).count("loans.affordability") == 1  # one activity, 3 attempts
    assert gate.recommendation.outcome == "refer"
    assert "loans.affordability failed" in gate.recommendation.rationale
    temporal.run(handle.terminate("test done"))


def test_a_decision_arriving_while_the_gate_is_being_published_still_reaches_the_projection(
    temporal, transactional_db
):
    @activity.defn(name=PUBLISH_ACTIVITY)
    def slow_publish(snapshot: GateSnapshot) -> bool:
        time.sleep(1.5)  # the reviewer is faster than the projection
        return publish_gate(snapshot)

    with temporal.worker(portal_activities=[slow_publish]) as queue:
        handle = start_loan(temporal, queue)
        gate = wait_for_gate(temporal, handle)  # visible to the query before the publish ends
        decide(temporal, handle, gate.gate_id, reason="quick")
        result = temporal.run(handle.result())

    assert result.outcome == "approved"
    assert activity_names(temporal, handle).count(PUBLISH_ACTIVITY) == 2
    projected = Gate.objects.get(gate_id=gate.gate_id)
    assert (projected.status, projected.version) == ("approved", 2)
    record_history(temporal, handle, "loan_decided_during_publish")

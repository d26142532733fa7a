"""A decision applies only to the gate its reviewer's page showed (agents.framework.gate_content).

Found by an attacker's review (the planners' HIGH, "a reset reopens the gate"): a client that may
reset a run resets it to before the model's last step. The reset run asks the model again and opens
the gate again at the same revision and version with another answer; the projection, already at
that version, keeps showing the first one. The reviewer's approval named revision 0, which both
answers have, and the run applied it to a recommendation the page never showed.

Now a decision names the digest of the gate its page showed, under the portal's signature, and the
run refuses it when the gate it holds digests otherwise. A gate carried across continue-as-new, or
holding text the projection has to replace to store, digests the same on both sides.
"""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import WorkflowUpdateFailedError

from agents.framework.contract import LLM_ACTIVITY
from agents.framework.gate_content import content_digest
from agents.framework.gates import CONTENT_CHANGED, decision_refusal
from agents.framework.input_rules import action_input_refusal
from agents.framework.llm import LlmSettings
from agents.framework.signing import action_claims
from agents.framework.types import Recommendation, ToolResult
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.projection import gate_apply_snapshot
from reviewer_portal.inbox.seen import CONTENT, gate_content_of
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from reviewer_portal.temporal_client import data_converter
from reviewer_portal.trust.signer import sign_action
from tests import actions
from tests.conftest import (
    decide,
    loan_input,
    logged_in,
    make_user,
    projected_gate,
    record_history,
    start_loan,
)
from tests.fake_openai import FakeOpenAI, Fault
from tests.outage import wait_until
from tests.test_gate_rules import NOW
from tests.test_gate_rules import gate as gate_snapshot

SECOND_ANSWER = "Approve: the applicant is well known to the branch manager."


def opened_gate():
    """A loan gate as a run opens it, with a case and evidence."""
    bureau = ToolResult("c1", "loans.credit_bureau", True, {"bureau_score": 742, "defaults": 0})
    return gate_snapshot(case={"amount": 18_000, "applicant_name": "Amira Haddad"}, tool_results=[bureau])


def answer(outcome: str, rationale: str) -> Fault:
    """The model's final answer, as the chat-completions API sends it."""
    content = json.dumps({"outcome": outcome, "rationale": rationale, "risk_factors": []})
    message = {"role": "assistant", "content": content}
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-gpt",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }
    return Fault(200, json.dumps(body))


def reset_to_before_the_last_model_step(temporal, handle) -> str:
    """What a client allowed to reset can do: set the run back to the task that asked the model
    for its recommendation, so that the model is asked again."""

    async def reset() -> str:
        history = await handle.fetch_history()
        asked = [
            e.activity_task_scheduled_event_attributes
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
            and e.activity_task_scheduled_event_attributes.activity_type.name == LLM_ACTIVITY
        ]
        request = ResetWorkflowExecutionRequest(
            namespace=temporal.client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=handle.id, run_id=handle.result_run_id),
            reason="set back to the model's step",
            workflow_task_finish_event_id=asked[-1].workflow_task_completed_event_id,
            request_id=str(uuid.uuid4()),
        )
        return (await temporal.client.workflow_service.reset_workflow_execution(request)).run_id

    return temporal.run(reset())


def run_gate(temporal, handle):
    """The gate as the latest run holds it (None while a reset run has not opened it yet)."""
    gates = temporal.run(temporal.client.get_workflow_handle(handle.id).query(AgentWorkflow.all_gates))
    return gates[0] if gates else None


def holds_the_second_answer(temporal, handle) -> bool:
    gate = run_gate(temporal, handle)
    return gate is not None and gate.recommendation.rationale == SECOND_ANSWER


def test_a_decision_is_not_applied_to_a_recommendation_a_reset_made_again(
    temporal, settings, portal_settings, transactional_db
):
    fake = FakeOpenAI()
    llm = LlmSettings(api_key="sk-test", base_url=fake.base_url)
    with fake, temporal.worker(llm=llm, portal_activities=PORTAL_ACTIVITIES) as queue:
        settings.TEMPORAL_TASK_QUEUE = queue
        handle = start_loan(temporal, queue, loan_input())
        shown = projected_gate(handle)
        first_answer = shown.rationale
        fake.script.append(answer("approve", SECOND_ANSWER))  # what the model says when asked again

        reset_to_before_the_last_model_step(temporal, handle)
        wait_until(lambda: holds_the_second_answer(temporal, handle))
        # The reset run's gate is at the projection's version: the row keeps the first answer.
        assert Gate.objects.get(pk=shown.pk).rationale == first_answer != SECOND_ANSWER

        officer = logged_in(make_user("officer", "credit_officer"))
        decide(officer, shown, "approve", reason="Within policy.")
        refused = ActionAttempt.objects.get(gate_id=shown.gate_id, action="decide")
        held = run_gate(temporal, handle)
        # The refusal brought the run's gate to the page; decided on that, the decision stands.
        row = Gate.objects.get(pk=shown.pk)
        decide(officer, row, "approve", reason="Known to the branch.")
        decided = run_gate(temporal, handle)

    assert refused.status == ActionAttempt.Status.REFUSED, refused.detail
    assert refused.detail == CONTENT_CHANGED
    assert refused.seen[CONTENT] == gate_content_of(shown) != content_digest(held)
    # Nothing applied: the run's gate was open as the reset made it.
    assert (held.status, held.decided_by, held.recommendation.rationale) == ("pending", "", SECOND_ANSWER)
    assert (row.rationale, row.content_digest) == (SECOND_ANSWER, content_digest(held))
    assert (decided.status, decided.reason, decided.recommendation.rationale) == (
        "approved",
        "Known to the branch.",
        SECOND_ANSWER,
    )


def test_a_decision_naming_the_rows_digest_is_applied_and_history_keeps_the_digest(temporal, portal):
    # A continued run's copy of the gate comes through the data converter (the regulatory
    # review's continue-as-new test decides on one); the projection's through the publish.
    handle = start_loan(temporal, portal, loan_input())
    row = projected_gate(handle)
    carried = run_gate(temporal, handle)
    converter = data_converter().payload_converter
    through_history = converter.from_payloads(converter.to_payloads([carried]), [type(carried)])[0]
    assert content_digest(through_history) == content_digest(carried) == gate_content_of(row)

    result = actions.decide(
        temporal, handle, row.gate_id, reason="Within policy.", content=gate_content_of(row)
    )
    temporal.run(handle.result())

    assert result.change is not None and run_gate(temporal, handle).status == "approved"
    history = temporal.run(handle.fetch_history())
    [accepted] = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
        and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == "decide"
    ]
    [named] = temporal.run(temporal.client.data_converter.decode(accepted.args.payloads))
    assert named["content"] == gate_content_of(row)
    record_history(temporal, handle, "loan_approved_naming_its_content")


def test_a_gate_whose_text_the_projection_replaces_to_store_digests_the_same(transactional_db):
    gate = dataclasses.replace(
        opened_gate(),
        recommendation=Recommendation("approve", "Bureau score 742\x00 and a lone \ud800 surrogate.", []),
    )
    gate_apply_snapshot(snapshot=gate)
    row = Gate.objects.get(gate_id=gate.gate_id)
    assert "\ufffd" in row.rationale  # stored with U+FFFD in their place
    assert gate_content_of(row) == row.content_digest == content_digest(gate)
    row.content_digest = ""  # a row written before the column: computed from its snapshot
    assert gate_content_of(row) == content_digest(gate)


def test_the_digest_covers_what_a_reviewer_decides_on_and_not_who_holds_the_gate():
    gate = opened_gate()
    digest = content_digest(gate)
    for change in [
        {"recommendation": Recommendation("decline", gate.recommendation.rationale, [])},
        {"case": {**gate.case, "amount": 18_001}},
        {"tool_results": []},
        {"subject": gate.subject + "!"},
    ]:
        assert content_digest(dataclasses.replace(gate, **change)) != digest, change
    for change in [{"assignee": "officer", "assignee_id": "7"}, {"version": 9}, {"annotations": []}]:
        assert content_digest(dataclasses.replace(gate, **change)) == digest, change


@pytest.mark.parametrize(
    ("content", "refused"),
    [
        ("", False),  # a portal from before it: the revision alone is checked
        ("0" * 64, False),
        ("0" * 63, True),
        ("A" * 64, True),
        ("\uff10" * 64, True),  # fullwidth digits
        ("0" * 64 + "\n", True),
        ("0" * 10_000, True),
        (7, True),
    ],
)
def test_the_digest_a_decision_names_is_a_sha256_in_hex_or_nothing(content, refused):
    update = dataclasses.replace(actions.decide_input("g1"), content=content)
    refusal = action_input_refusal(update)
    assert (refusal is not None) == refused, refusal
    if refused:
        assert "digest" in refusal


def test_the_run_refuses_a_decision_naming_another_digest_and_signs_it_only_when_named():
    gate = opened_gate()
    update = dataclasses.replace(actions.decide_input(gate.gate_id, reason="ok"), revision=0)
    now = NOW
    assert decision_refusal(gate, dataclasses.replace(update, content=content_digest(gate)), now) is None
    assert decision_refusal(gate, dataclasses.replace(update, content="0" * 64), now) == CONTENT_CHANGED
    assert decision_refusal(gate, update, now) is None
    # Signed when named; a decision without one signs what it signed before.
    claims = action_claims(
        "decide", dataclasses.replace(update, content="0" * 64), workflow_id="w", update_id="u"
    )
    assert claims["content"] == "0" * 64
    assert "content" not in action_claims("decide", update, workflow_id="w", update_id="u")


def test_an_attacker_cannot_swap_the_named_digest_of_a_signed_decision(temporal, portal):
    handle = start_loan(temporal, portal, loan_input())
    row = projected_gate(handle)
    actions.assign(temporal, handle, row.gate_id, "officer", actions.OFFICER, "officer", actions.OFFICER)
    named = actions.decide_input(row.gate_id, reason="Within policy.", content="0" * 64)
    signed = sign_action("decide", named, workflow_id=handle.id, update_id="u-1")
    swapped = dataclasses.replace(signed, content=gate_content_of(row))

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        temporal.run(handle.execute_update(AgentWorkflow.decide, swapped, id="u-1"))

    assert "signature" in str(refused.value.cause.message).lower()
    assert run_gate(temporal, handle).status == "pending"

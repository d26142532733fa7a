"""A decision names the run's digest of the gate it was made on (agents.framework.gate_content),
under the portal's signature, and the run refuses it when the gate it holds digests otherwise.

Found by an attacker's review (the planners' HIGH, "a reset reopens the gate"): a client that may
reset a run resets it to before the model's last step. The reset run asks the model again and opens
the gate again at the same revision and version with another answer; the reviewer's approval named
revision 0, which both answers have, and the run applied it to a recommendation the page never
showed. How the projection then shows the run's gate: tests/test_gate_set_back.py.
"""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from temporalio.client import WorkflowUpdateFailedError

from agents.framework.contract import OPERATOR
from agents.framework.gate_content import content_digest
from agents.framework.gates import CONTENT_CHANGED, decision_refusal
from agents.framework.input_rules import action_input_refusal
from agents.framework.signing import action_claims
from agents.framework.types import ADMIN_ROLE, Annotation, Recommendation
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.services import gate_decide
from reviewer_portal.temporal_client import data_converter
from reviewer_portal.trust.signer import sign_action
from tests import actions
from tests.conftest import (
    loan_input,
    make_user,
    projected_gate,
    record_history,
    start_loan,
)
from tests.set_back_runs import (
    opened_gate,
    run_gate,
)
from tests.test_gate_rules import NOW


def test_a_decision_naming_the_rows_digest_is_applied_and_history_keeps_the_digest(temporal, portal):
    # A continued run's copy of the gate comes through the data converter (the regulatory
    # review's continue-as-new test decides on one); the projection's through the publish.
    handle = start_loan(temporal, portal, loan_input())
    row = projected_gate(handle)
    carried = run_gate(temporal, handle)
    converter = data_converter().payload_converter
    through_history = converter.from_payloads(converter.to_payloads([carried]), [type(carried)])[0]
    assert content_digest(through_history) == content_digest(carried) == row.content_digest

    result = actions.decide(
        temporal, handle, row.gate_id, reason="Within policy.", content=row.content_digest
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
    assert named["content"] == row.content_digest
    record_history(temporal, handle, "loan_approved_naming_its_content")


def test_a_field_a_later_release_adds_with_its_default_leaves_every_digest_as_it_was():
    @dataclasses.dataclass
    class LaterRecommendation(Recommendation):
        confidence: float | None = None

    gate = opened_gate()
    later = dataclasses.replace(
        gate, recommendation=LaterRecommendation(**dataclasses.asdict(gate.recommendation))
    )
    assert content_digest(later) == content_digest(gate)
    used = dataclasses.replace(
        later, recommendation=dataclasses.replace(later.recommendation, confidence=0.9)
    )
    assert content_digest(used) != content_digest(gate)


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
    for change in [
        {"assignee": "officer", "assignee_id": "7"},
        {"version": 9},
        {"deadline": NOW},
        {"annotations": [Annotation("colleague", "Checked.", NOW)]},
    ]:
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
    swapped = dataclasses.replace(signed, content=row.content_digest)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        temporal.run(handle.execute_update(AgentWorkflow.decide, swapped, id="u-1"))

    assert "signature" in str(refused.value.cause.message).lower()
    assert run_gate(temporal, handle).status == "pending"


def test_keys_and_sets_digest_as_a_continued_run_holds_them():
    converter = data_converter().payload_converter
    for proposal in [{True: 1}, {None: 2}, {3: "x"}, {"k": (1, 2)}, {"trend": -0.0, "ceiling": 1e16}]:
        gate = dataclasses.replace(opened_gate(), recommendation=Recommendation("approve", "r", [], proposal))
        carried = converter.from_payloads(converter.to_payloads([gate]), [type(gate)])[0]
        assert content_digest(carried) == content_digest(gate), proposal
    listed = dataclasses.replace(opened_gate(), case={"tags": {"b", "a", "c"}})
    assert content_digest(listed) == content_digest(
        dataclasses.replace(listed, case={"tags": {"c", "a", "b"}})
    )


def test_the_portal_sends_no_decision_on_a_gate_decided_in_its_projection(temporal, portal):
    handle = start_loan(temporal, portal, loan_input())
    gate = projected_gate(handle)
    Gate.objects.filter(pk=gate.pk).update(status="rejected", decided_by="officer", decision_id="decide:g:1")
    admin = make_user("admin", "credit_officer", ADMIN_ROLE)

    attempt = gate_decide(
        gate=Gate.objects.get(pk=gate.pk),
        reviewer=admin,
        decision="approve",
        reason="Committee.",
        submission_id=str(uuid.uuid4()),
        revision=0,
        origin=OPERATOR,
    )

    assert attempt.status == ActionAttempt.Status.REFUSED
    assert attempt.detail.startswith("This gate was already decided (rejected by officer)")
    assert run_gate(temporal, handle).status == "pending"  # nothing was sent

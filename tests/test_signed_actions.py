"""Signed reviewer actions on the real dev server: the workflow applies only what the portal signed,
for this run, gate and Update, recently, with a key the run trusts; and each action once."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from datetime import timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
from django.utils import timezone
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from agents.framework.contract import (
    ALREADY_APPLIED,
    OPERATOR,
    PUBLISH_CHANGE_ACTIVITY,
    PUBLISH_LOCAL_ACTIVITY,
)
from agents.framework.reviewer_actions import KeyEndorsement
from agents.framework.types import AgentState, VerifyingKey
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from reviewer_portal.trust.keys import generate, portal_keyring, rotate
from reviewer_portal.trust.signer import sign_action
from tests import actions
from tests.conftest import event_types, loan_input, record_history, start_loan, wait_for_gate

UPDATE_EVENTS = {
    "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
    "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED",
}


def refusal(send) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        send()
    return refused.value.cause.message


@pytest.fixture
def loan(temporal, worker):
    handle = start_loan(temporal, worker)
    yield handle, wait_for_gate(temporal, handle)
    with contextlib.suppress(RPCError):  # the run may end of itself first (an approval does)
        temporal.run(handle.terminate("test done"))


def assert_nothing_applied(temporal, handle) -> None:
    assert not UPDATE_EVENTS & set(event_types(temporal, handle))
    gate = temporal.run(handle.query(AgentWorkflow.gate))
    assert (gate.status, gate.assignee, gate.annotations) == ("pending", "", [])


def test_a_signature_made_for_another_gate_run_or_update_is_refused(temporal, loan):
    handle, gate = loan
    update = actions.decide_input(gate.gate_id, reason="ok")
    for_another_run = sign_action("decide", update, workflow_id="loan-elsewhere", update_id="u-1")
    for_another_update = sign_action("decide", update, workflow_id=handle.id, update_id="u-other")
    as_a_note = sign_action("annotate", update, workflow_id=handle.id, update_id="u-1")

    for signed in (for_another_run, for_another_update, as_a_note):
        message = refusal(
            lambda s=signed: actions.send(temporal, handle, "decide", s, update_id="u-1", signed=False)
        )
        assert "signature does not match it" in message
    assert_nothing_applied(temporal, handle)


@pytest.mark.parametrize(
    "change",
    [
        {"decision": "reject", "reason": "Forged"},
        {"reason": "A different reason"},
        {"reviewer": "mallory"},
        {"reviewer_id": actions.person_id("mallory")},
        {"reviewer_roles": ["credit_officer", "admin"]},
        {"origin": OPERATOR},
        {"action_id": "decide:another"},
        {"edits": {"conditions": "none"}},
    ],
    ids=["decision", "reason", "username", "user-id", "roles", "origin", "action-id", "edits"],
)
def test_any_field_changed_after_signing_is_refused(temporal, loan, change):
    handle, gate = loan
    signed = sign_action(
        "decide", actions.decide_input(gate.gate_id, reason="ok"), workflow_id=handle.id, update_id="u-1"
    )

    tampered = dataclasses.replace(signed, **change)

    message = refusal(
        lambda: actions.send(temporal, handle, "decide", tampered, update_id="u-1", signed=False)
    )
    assert "signature does not match it" in message
    assert_nothing_applied(temporal, handle)


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (timedelta(minutes=-3), "signed more than 2 minutes ago"),
        (timedelta(minutes=5), "signed in the future"),
    ],
    ids=["expired", "future"],
)
def test_a_stale_or_future_dated_signature_is_refused(temporal, loan, when, message):
    handle, gate = loan

    # No claim first: nothing of this run's may apply, and the signature is refused before any rule.
    sent = refusal(
        lambda: actions.decide(temporal, handle, gate.gate_id, now=timezone.now() + when, claim_first=False)
    )

    assert message in sent
    assert_nothing_applied(temporal, handle)


def test_an_untrusted_key_or_a_forged_endorsement_is_refused(temporal, loan, portal_signing_key):
    handle, gate = loan
    stranger = generate(key_id="stranger")
    # The stranger vouches for itself as if the portal's key had endorsed it.
    forged = dataclasses.replace(
        stranger,
        endorsements=(
            KeyEndorsement(
                key_id=stranger.key_id,
                public_key=stranger.public_key,
                endorsed_by=portal_signing_key.key_id,
                signature=stranger.sign(b"anything"),
            ),
        ),
    )

    assert "a key this run does not trust (stranger)" in refusal(
        lambda: actions.decide(temporal, handle, gate.gate_id, key=stranger, claim_first=False)
    )
    assert "a key this run does not trust (stranger)" in refusal(
        lambda: actions.decide(temporal, handle, gate.gate_id, key=forged, claim_first=False)
    )
    assert_nothing_applied(temporal, handle)


def test_after_a_key_rotation_a_run_in_flight_accepts_the_new_key_through_its_endorsement(
    temporal, transactional_db, portal_signing_key, settings
):
    # As the README orders it: the workers are given the new public key first (their keyring,
    # agents.framework.worker_keyring), then the portal signs with it.
    rotated = rotate(portal_signing_key, key_id="rotated-key")
    keyring = [*portal_keyring(), VerifyingKey(rotated.key_id, rotated.public_key)]
    with temporal.worker(portal_activities=PORTAL_ACTIVITIES, keyring=keyring) as queue:
        handle = start_loan(temporal, queue)  # the run pins the key the portal has when it starts
        gate = wait_for_gate(temporal, handle)
        settings.PORTAL_SIGNING_KEY = rotated.to_json()

        unendorsed = refusal(
            lambda: actions.decide(temporal, handle, gate.gate_id, key=generate(key_id="stray"))
        )
        decided = actions.decide(temporal, handle, gate.gate_id, reason="Signed with the rotated key")

        assert "a key this run does not trust (stray)" in unendorsed
        assert decided.change.changes["status"] == "approved"
        assert temporal.run(handle.result()).outcome == "approved"


def test_a_run_pinned_only_to_the_new_key_refuses_the_retired_one(
    temporal, transactional_db, portal_signing_key, settings
):
    rotated = rotate(portal_signing_key, key_id="rotated-key")
    keyring = [*portal_keyring(), VerifyingKey(rotated.key_id, rotated.public_key)]  # mid-rotation
    with temporal.worker(portal_activities=PORTAL_ACTIVITIES, keyring=keyring) as queue:
        settings.PORTAL_SIGNING_KEY = rotated.to_json()
        handle = start_loan(temporal, queue, loan_input())
        gate = wait_for_gate(temporal, handle)

        message = refusal(lambda: actions.decide(temporal, handle, gate.gate_id, key=portal_signing_key))

        assert f"a key this run does not trust ({portal_signing_key.key_id})" in message
        temporal.run(handle.terminate("test done"))


def test_the_same_action_delivered_twice_under_two_update_ids_is_applied_once(temporal, loan):
    handle, gate = loan
    update = actions.decide_input(gate.gate_id, reason="ok")
    actions.assign(
        temporal, handle, gate.gate_id, "officer", actions.OFFICER, "officer"
    )  # loans: claim first

    first = actions.send(temporal, handle, "decide", update, update_id=f"{update.action_id}#1")
    with pytest.raises(WorkflowUpdateFailedError) as again:
        actions.send(temporal, handle, "decide", update, update_id=f"{update.action_id}#2")

    assert first.change.changes["status"] == "approved"
    assert again.value.cause.type == ALREADY_APPLIED
    assert (
        event_types(temporal, handle).count("EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED") == 2
    )  # claim, decision
    assert update.action_id in temporal.run(handle.query(AgentWorkflow.applied_actions))


def test_an_operator_override_is_an_admins_signed_decision_recorded_as_such(temporal, loan):
    handle, gate = loan
    admin = ["admin"]

    as_portal = refusal(
        lambda: actions.decide(temporal, handle, gate.gate_id, reviewer="root", roles=admin, reason="x")
    )
    not_admin = refusal(
        lambda: actions.decide(
            temporal,
            handle,
            gate.gate_id,
            "approve",
            "x",
            "compliance",
            ["compliance_reviewer"],
            origin=OPERATOR,
        )
    )
    no_reason = refusal(
        lambda: actions.decide(temporal, handle, gate.gate_id, reviewer="root", roles=admin, origin=OPERATOR)
    )
    actions.decide(
        temporal, handle, gate.gate_id, reviewer="root", roles=admin, origin=OPERATOR, reason="Committee"
    )
    result = temporal.run(handle.result())

    assert "Only a reviewer with the role 'credit_officer'" in as_portal
    assert "Only a reviewer with the role 'credit_officer'" in not_admin
    assert "An operator override needs a reason." in no_reason
    assert (result.gate.decided_by, result.gate.decided_via, result.gate.status) == (
        "root",
        OPERATOR,
        "approved",
    )
    record_history(temporal, handle, "loan_operator_override")


def test_notes_and_a_change_request_travel_as_patches_and_the_revised_gate_is_decided(temporal, loan):
    handle, gate = loan
    actions.annotate(temporal, handle, gate.gate_id, "Income checked against payslips.")
    actions.decide(temporal, handle, gate.gate_id, "request_changes", "Refer: the employer is new.")
    revised = wait_for_gate(temporal, handle, until=lambda g: g.revisions and g.status == "pending")
    actions.annotate(temporal, handle, gate.gate_id, "Employer confirmed by phone.")

    actions.decide(temporal, handle, gate.gate_id, reason="Referral cleared")
    result = temporal.run(handle.result())

    assert [a.text for a in result.gate.annotations] == [
        "Income checked against payslips.",
        "Employer confirmed by phone.",
    ]
    assert revised.recommendation.outcome == "refer" and result.outcome == "approved"
    projected = Gate.objects.get(gate_id=gate.gate_id)
    assert projected.status == "approved" and len(projected.annotations) == 2 and projected.revisions
    # Every publish after the first sent a patch, never the whole gate again.
    publications = published(temporal, handle)
    assert len(publications) >= 5  # opened, noted, changes asked, revised, noted, decided
    assert publications[0]["snapshot"] and all(p["patch"] and not p["snapshot"] for p in publications[1:])
    record_history(temporal, handle, "loan_signed_revised_with_notes")


def published(temporal, handle) -> list[dict]:
    """Each publication of the run's gate, as history keeps it: the result of a local publish
    (its marker), or the input of a publish task."""
    history = temporal.run(handle.fetch_history())
    converter = temporal.client.data_converter
    publications = []
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == PUBLISH_CHANGE_ACTIVITY:
                publications.append(temporal.run(converter.decode(scheduled.input.payloads))[0])
        elif event.HasField("marker_recorded_event_attributes"):
            details = event.marker_recorded_event_attributes.details
            data = json.loads(details["data"].payloads[0].data) if "data" in details else {}
            if data.get("activity_type") == PUBLISH_LOCAL_ACTIVITY and "result" in details:
                publications.append(
                    temporal.run(converter.decode(details["result"].payloads))[0]["publication"]
                )
    return publications


def scheduled_inputs(temporal, handle) -> list[tuple[str, object]]:
    history = temporal.run(handle.fetch_history())
    converter = temporal.client.data_converter
    return [
        (
            e.activity_task_scheduled_event_attributes.activity_type.name,
            temporal.run(converter.decode(e.activity_task_scheduled_event_attributes.input.payloads))[0],
        )
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


def test_history_grows_by_the_same_few_kilobytes_per_note_however_many_came_before(temporal, loan):
    # Before: every Update result and every publish carried the whole gate, notes and all, so the
    # 44th note of 2,000 characters cost 44 times what the first did (4.43 MB in all). 30 notes of
    # 1,200 characters stay under the per-gate bound (agents.framework.gates.MAX_NOTES_CHARACTERS).
    handle, gate = loan
    sizes = [history_bytes(temporal, handle)]
    for n in range(30):
        actions.annotate(temporal, handle, gate.gate_id, f"Note {n}: " + "x" * 1_200)
        projected_gate_version(gate.gate_id, n + 2)  # its publish has landed in history too
        sizes.append(history_bytes(temporal, handle))

    early = (sizes[10] - sizes[0]) / 10
    late = (sizes[30] - sizes[20]) / 10
    assert late <= 1.1 * early and late < 12_000, (early, late)


def history_bytes(temporal, handle) -> int:
    """The run's history as Temporal stores it: the events' serialised size."""
    return sum(event.ByteSize() for event in temporal.run(handle.fetch_history()).events)


def projected_gate_version(gate_id: str, version: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not Gate.objects.filter(gate_id=gate_id, version__gte=version).exists():
        assert time.monotonic() < deadline, f"{gate_id} never reached version {version}"
        time.sleep(0.05)


def test_a_decision_made_on_an_earlier_recommendation_is_refused_after_the_agent_revised_it(temporal, loan):
    # An approval queued while a colleague's change request got through must not land on the
    # revised recommendation, which its reviewer never saw.
    handle, gate = loan
    stale_approval = actions.decide_input(gate.gate_id, reason="Looks right", reviewer="officer", revision=0)
    actions.decide(
        temporal, handle, gate.gate_id, "request_changes", "Refer: new employer", reviewer="officer2"
    )
    wait_for_gate(temporal, handle, until=lambda g: g.revisions and g.status == "pending")

    message = refusal(lambda: actions.send(temporal, handle, "decide", stale_approval))

    assert "The agent revised its recommendation after this decision was made" in message
    # officer2 claimed the gate to send it back, and holds it still: they decide the revision.
    actions.decide(temporal, handle, gate.gate_id, reason="Read the revision: fine", reviewer="officer2")
    assert temporal.run(handle.result()).outcome == "approved"


def test_a_run_continuing_as_new_publishes_a_change_it_had_not_published_yet(temporal, loan):
    # A decision accepted while the run summarised its turns before continuing as new: the new run
    # must still send it to the projection (it used to take every carried gate as published).
    handle, gate = loan
    decided = dataclasses.replace(gate, status="approved", decided_by="officer", version=gate.version + 1)
    carry = dataclasses.replace(
        AgentState(messages=[]), gates=[decided], published={gate.gate_id: gate.version}
    )
    # Built outside a worker, as a continued run: what workflow.info() says of one.
    continuing = SimpleNamespace(continued_run_id="run-before", cron_schedule=None, retry_policy=None)
    with mock.patch("temporalio.workflow.info", return_value=continuing):
        continued = AgentWorkflow(dataclasses.replace(loan_input(), carry=carry))
        older = AgentWorkflow(
            dataclasses.replace(loan_input(), carry=dataclasses.replace(carry, published=None))
        )

    assert continued._unpublished([gate.gate_id])
    assert gate.gate_id not in continued._published_gates  # so it goes whole, not as a patch
    assert not older._unpublished([gate.gate_id])  # runs continued before this replay as they were
    temporal.run(handle.terminate("test done"))


def test_a_run_started_before_signed_actions_accepts_none_and_says_what_to_do(temporal, worker):
    handle = start_loan(temporal, worker, dataclasses.replace(loan_input(), trusted_keys=[]))
    gate = wait_for_gate(temporal, handle)

    message = refusal(lambda: actions.decide(temporal, handle, gate.gate_id, reason="ok"))

    assert "started before reviewer actions were signed" in message and "terminate it" in message
    temporal.run(handle.terminate("test done"))

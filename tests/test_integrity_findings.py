"""Issue 7's six findings, each reproduced on the real dev server as an attacker or a reviewer in an
outage would meet it. Each test failed before the fix; the comment on it says what happened then."""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.service import RPCError, RPCStatusCode

from agents.framework.reviewer_actions import AnnotateInput
from agents.framework.workflow import AgentWorkflow
from reviewer_portal import temporal_client
from reviewer_portal.inbox.models import Gate
from tests import actions
from tests.conftest import (
    activity_names,
    decide,
    event_types,
    loan_input,
    logged_in,
    make_user,
    projected_gate,
    record_history,
    start_loan,
    submit_loan_application,
    wait_for_gate,
)

NOT_SIGNED = "This action is not signed by the portal: reviewer actions come through the portal."
UPDATE_EVENTS = {
    "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
    "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED",
}

HTMX = {"HX-Request": "true"}


def raw_update(temporal, raw_client, workflow_id: str, name: str, payload: dict) -> str:
    """Send `payload` as Update `name` the way an operator's CLI would; return the refusal."""
    handle = raw_client.get_workflow_handle(workflow_id)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        temporal.run(handle.execute_update(name, raw_json(payload), id=f"raw-{uuid.uuid4().hex[:8]}"))
    return refused.value.cause.message


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        (
            "decide",
            {
                "decision": "approve",
                "reason": "",
                "reviewer": "mallory",
                "reviewer_roles": ["credit_officer"],
            },
        ),
        (
            "assign",
            {
                "reviewer": "mallory",
                "reviewer_roles": ["credit_officer"],
                "assignee": "ghost",
                "assignee_roles": ["credit_officer"],
            },
        ),
        (
            "annotate",
            {"text": "Looks fine to me", "reviewer": "compliance", "reviewer_roles": ["credit_officer"]},
        ),
    ],
    ids=["decide", "assign", "annotate"],
)
def test_finding_1_an_unsigned_update_from_a_raw_client_is_refused(
    temporal, worker, raw_client, name, payload
):
    # Before: accepted; the forged approval ran loans.issue_offer as "mallory".
    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)

    refusal = raw_update(temporal, raw_client, handle.id, name, {"gate_id": gate.gate_id, **payload})

    assert "not signed by the portal" in refusal
    assert not UPDATE_EVENTS & set(event_types(temporal, handle))
    current = temporal.run(handle.query(AgentWorkflow.gate))
    assert (current.status, current.assignee, current.annotations) == ("pending", "", [])
    temporal.run(handle.terminate("test done"))


def test_finding_2_continue_as_new_with_a_pending_gate_never_plans_again(temporal, worker):
    # Before: the continued run planned again: a second bureau call, a second gate --g2.
    agent_input = loan_input()
    agent_input.spec.max_history_events = 70
    handle = start_loan(temporal, worker, agent_input)
    gate = wait_for_gate(temporal, handle)
    first_run = temporal.run(handle.describe()).run_id

    # Short enough that 40 notes stay within a gate's 40,000 characters: under load the run may
    # take several notes more to continue (CI's PostgreSQL pass refused the 21st of 1,900).
    for n in range(40):
        actions.annotate(temporal, handle, gate.gate_id, f"note {n}: " + "x" * 900)
        if temporal.run(handle.describe()).run_id != first_run:
            break
    assert temporal.run(handle.describe()).run_id != first_run, "the run never continued as new"
    actions.decide(temporal, handle, gate.gate_id, reason="checked after the notes")
    result = temporal.run(handle.result())

    assert [g.gate_id for g in result.gates] == [gate.gate_id]
    assert result.outcome == "approved" and len(result.gate.annotations) == n + 1
    runs = [first_run, temporal.run(handle.describe()).run_id]
    bureau_calls = sum(
        activity_names(temporal, temporal.client.get_workflow_handle(handle.id, run_id=r)).count(
            "loans.credit_bureau"
        )
        for r in runs
    )
    assert bureau_calls == 1
    first = temporal.client.get_workflow_handle(handle.id, run_id=first_run)
    record_history(temporal, first, "loan_continued_at_gate_first_run")
    record_history(temporal, handle, "loan_continued_at_gate_last_run")


def test_finding_3_a_reject_after_an_undelivered_approve_is_never_turned_into_the_approve(
    settings, temporal, portal_settings
):
    # Before: the panel reused the approval's form id, so the Reject resolved to the queued Approve.
    from reviewer_portal.inbox.models import ActionAttempt

    officer = make_user("officer", "credit_officer")
    with temporal.worker(portal_activities=_portal_activities()) as queue:
        handle = start_loan(temporal, queue, loan_input(submitted_by="intake"))
        gate = projected_gate(handle)
        client = logged_in(officer)
        claim(client, gate)  # a loan gate is decided by its holder; claimed while the worker ran
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = 1

    approve = decide(client, gate, reason="fine")
    page = client.get(f"/gates/{gate.gate_id}/").content.decode()
    reject = decide(client, gate, decision="reject", reason="Income not verified")

    assert "Your approval is recorded and will be sent" in approve.content.decode()
    assert 'value="reject"' not in page and "Withdraw" in page
    assert reject.status_code == 409
    assert "withdraw it first" in reject.content.decode()
    assert list(ActionAttempt.objects.filter(action="decide").values_list("decision", flat=True)) == [
        "approve"
    ]
    temporal.run(handle.terminate("test done"))


def test_finding_4_a_portal_started_during_an_outage_answers_in_plain_words(
    settings, temporal, portal, loan_gate
):
    # Before: HTTP 500 (RuntimeError from Client.connect), the attempt stuck in `sending`.
    _, gate = loan_gate
    officer = make_user("officer", "credit_officer")
    claim(logged_in(officer), gate)  # a loan gate is decided by its holder; claimed before the outage
    settings.TEMPORAL_ADDRESS = "127.0.0.1:1"  # nothing listens there
    temporal_client.reset_client()

    response = decide(logged_in(officer), gate, reason="fine")

    assert response.status_code == 200
    assert "Your approval is recorded and will be sent" in response.content.decode()
    assert Gate.objects.get(gate_id=gate.gate_id).status == "pending"


def test_finding_5_four_eyes_holds_after_the_submitter_is_renamed(temporal, portal):
    # Before: the renamed submitter approved their own application.
    submitter = make_user("officer", "credit_officer")
    client = logged_in(submitter)
    submission = str(uuid.uuid4())
    submit_loan_application(client, submission)
    handle = temporal.client.get_workflow_handle(f"loan-{submission}")
    gate = projected_gate(handle)
    submitter.username = "officer-renamed"
    submitter.save()

    refused = decide(logged_in(submitter), gate, reason="looks fine")

    assert "Four-eyes rule" in refused.content.decode()
    assert temporal.run(handle.query(AgentWorkflow.gate)).status == "pending"


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("annotate", {"text": "lone \ud800 surrogate"}, "not valid Unicode"),
        ("annotate", {"text": "nul \x00 byte"}, "control characters"),
        ("annotate", {"text": "bidi \u202e override"}, "invisible characters (U+202E)"),
        ("annotate", {"text": "tag \U000e0041 character"}, "invisible characters (U+E0041)"),
        ("annotate", {"text": "zero\u200bwidth"}, "invisible characters (U+200B)"),
        ("decide", {"reason": "x" * 2001}, "longer than 2000 characters"),
        ("decide", {"reviewer": ""}, "The reviewer is missing"),
        ("decide", {"reviewer": "r" * 5000}, "The reviewer is longer than 150 characters"),
        ("decide", {"reviewer_roles": ["Credit Officer!"]}, "role names"),
        ("decide", {"reviewer_id": ""}, "The reviewer is missing"),
        ("decide", {"edits": {"advice": 42}}, "The edited 'advice' must be text"),
    ],
    ids=["lone-surrogate", "nul", "bidi-override", "tag-character", "zero-width-space", "long-reason", "empty-reviewer", "5000-char-reviewer",
         "odd-role", "no-user-id", "edit-not-text"],
)  # fmt: skip
def test_finding_6_poison_input_is_refused_by_the_validator_even_when_signed(
    temporal, worker, name, change, message
):
    # Before: all accepted. Now even a signed action (as if the portal had a bug) is refused.
    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)
    update = actions.decide_input(gate.gate_id) if name == "decide" else _note(gate.gate_id)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        actions.send(temporal, handle, name, dataclasses.replace(update, **change))

    assert message in refused.value.cause.message
    _assert_run_unharmed(temporal, handle)


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        ("annotate", {"text": "lone \ud800 surrogate", "reviewer": "m", "reviewer_roles": []}, NOT_SIGNED),
        ("decide", {"decision": "approve", "reason": "", "reviewer": "", "reviewer_roles": []}, NOT_SIGNED),
        ("decide", {"decision": "approve", "reason": "", "reviewer": "r" * 5000, "reviewer_roles": []}, NOT_SIGNED),
        # An object where a list belongs is not even read (agents.framework.strict_json).
        ("decide", {"decision": "approve", "reason": "", "reviewer": "m", "reviewer_roles": {"credit_officer": 1}},
         "Failed decoding arguments"),
    ],
    ids=["lone-surrogate", "empty-reviewer", "5000-char-reviewer", "roles-as-object"],
)  # fmt: skip
def test_finding_6_poison_from_a_raw_client_is_refused(temporal, worker, raw_client, name, payload, message):
    # Before: accepted. Unsigned, these never get past the first check.
    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)
    raw = raw_client.get_workflow_handle(handle.id)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        temporal.run(raw.execute_update(name, raw_json({"gate_id": gate.gate_id, **payload}), id="poison"))

    assert refused.value.cause.message == message
    _assert_run_unharmed(temporal, handle)


@pytest.mark.once  # Temporal's own limit, not the portal's database: one CI pass
def test_finding_6_a_2_mb_reason_is_refused_by_temporal_before_it_reaches_the_run(
    temporal, worker, raw_client
):
    # Before: two WORKFLOW_TASK_FAILED (the refusal echoes the 2.1 MB Update, past the 2 MB limit)
    # and every Update to the run failed for about 20 s. The embedded server now holds at most
    # 512 KiB of Updates per run (history.maxInFlightUpdatePayloads), so it refuses it at the door.
    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)
    payload = {"gate_id": gate.gate_id, "decision": "approve", "reason": "x" * 2_100_000, "reviewer": "m"}

    with pytest.raises(RPCError) as refused:
        temporal.run(raw_client.get_workflow_handle(handle.id).execute_update("decide", payload, id="big"))

    assert refused.value.status == RPCStatusCode.RESOURCE_EXHAUSTED
    _assert_run_unharmed(temporal, handle)
    actions.decide(temporal, handle, gate.gate_id, reason="still decidable")
    assert temporal.run(handle.result()).outcome == "approved"


def raw_json(value: object) -> RawValue:
    """`value` as the JSON bytes the CLI sends (`--input`): escapes such as \\ud800 included."""
    return RawValue(Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode()))


def _note(gate_id: str) -> AnnotateInput:
    return AnnotateInput(gate_id, "note", "officer", ["credit_officer"], reviewer_id=actions.person_id("officer"),
                         action_id=f"annotate:{uuid.uuid4()}")  # fmt: skip


def _assert_run_unharmed(temporal, handle) -> None:
    events = event_types(temporal, handle)
    assert "EVENT_TYPE_WORKFLOW_TASK_FAILED" not in events and not UPDATE_EVENTS & set(events)
    # The run answers at once afterwards.
    assert temporal.run(handle.query(AgentWorkflow.gate)).status == "pending"


def claim(client, gate) -> None:
    response = client.post(
        f"/gates/{gate.gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers=HTMX
    )
    assert "You claimed this gate." in response.content.decode()


def _portal_activities():
    from tests.conftest import PORTAL_ACTIVITIES

    return PORTAL_ACTIVITIES

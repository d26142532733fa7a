"""A continued run goes on only if a worker continued it (agents/framework/seals.py).

Found by the attacker's review of signed starts, and reproduced here on the real dev server: a
client whose Temporal credential may poll starts a loan run on a queue of its own (no worker
checks a start there), polls that run's first workflow task, and completes it with a
continue-as-new onto the agents' queue, whose input carries a final gate already "approved by
officer". The continued run skipped the start check (the server made it) and took the carry as
its own: it resumed at the approved gate and issued the offer, with no Update and no reviewer.
Now each continue-as-new a worker makes carries its seal, and a continued run without a valid one
fails at its first step, having done nothing. What happens to each forgery:

- no seal (the client's own continue-as-new): refused, nothing scheduled or published;
- a worker's real seal copied onto the forged continuation: refused (it seals another run's);
- a tampered tag, a malformed header: refused; a seal under a key this worker lacks (left out of a
  payload key rotation) fails the task, which is tried again, never the run;
- while `unsealed_before` is set (the first rollout), a run continued before it goes on.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.command.v1 import Command, ContinueAsNewWorkflowExecutionCommandAttributes
from temporalio.api.common.v1 import Payload, Payloads, WorkflowType
from temporalio.api.enums.v1 import CommandType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    PollWorkflowTaskQueueRequest,
    RespondWorkflowTaskCompletedRequest,
)
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from agents.framework.codec import NamespaceKeys, new_key
from agents.framework.contract import AGENT_WORKFLOW
from agents.framework.seals import CONTINUATION, HEADERS, SealKeys, UnknownSealKey
from agents.framework.start_claims import START_REFUSED
from agents.framework.strict_json import STRICT_DATA_CONVERTER
from agents.framework.types import AgentState, ChatMessage
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from tests import actions
from tests.conftest import event_types, forged_approval, loan_input, record_history, start_loan, wait_for_gate

pytestmark = pytest.mark.once  # the agents on Temporal: one CI pass

# The refusal itself is a patch marker; a local publish would leave a Gate row.
DONE_NOTHING = {"EVENT_TYPE_ACTIVITY_TASK_SCHEDULED", "EVENT_TYPE_TIMER_STARTED"}


def forged_input(temporal, queue: str, workflow_id: str):
    """A loan run's input carrying its final gate "approved by officer", forged from a real gate."""
    model = start_loan(temporal, queue)
    real = wait_for_gate(temporal, model)
    temporal.run(model.terminate("test done"))
    return forged_approval(real, workflow_id)


def continued_by_a_raw_client(
    temporal, queue: str, workflow_id: str, agent_input, header: dict[str, Payload] | None = None
) -> WorkflowHandle:
    """Start a run on a queue no worker serves, take its first task as a worker would, and complete
    it with a continue-as-new onto `queue`; the continued run's handle."""
    rogue_queue = f"rogue-{uuid.uuid4().hex[:8]}"

    async def forge() -> WorkflowHandle:
        client = await Client.connect(temporal.address)  # a credential, no keys, no signature
        await client.start_workflow(AGENT_WORKFLOW, id=workflow_id, task_queue=rogue_queue)
        task = await client.workflow_service.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(
                namespace="default", task_queue=TaskQueue(name=rogue_queue), identity="rogue"
            )
        )
        attributes = ContinueAsNewWorkflowExecutionCommandAttributes(
            workflow_type=WorkflowType(name=AGENT_WORKFLOW),
            task_queue=TaskQueue(name=queue),
            # Plain JSON: the codec passes a payload that is not encrypted through unchanged.
            input=Payloads(payloads=STRICT_DATA_CONVERTER.payload_converter.to_payloads([agent_input])),
        )
        for name, payload in (header or {}).items():
            attributes.header.fields[name].CopyFrom(payload)
        command = Command(
            command_type=CommandType.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION,
            continue_as_new_workflow_execution_command_attributes=attributes,
        )
        await client.workflow_service.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(
                namespace="default", task_token=task.task_token, commands=[command], identity="rogue"
            )
        )
        return temporal.client.get_workflow_handle(workflow_id)

    return temporal.run(forge())


def refusal_of(temporal, handle: WorkflowHandle) -> str:
    with pytest.raises(WorkflowFailureError) as failed:
        temporal.run(handle.result(), timeout=60)
    assert failed.value.cause.type == START_REFUSED
    assert not DONE_NOTHING & set(event_types(temporal, handle))  # no publish, no offer, no timer
    assert not Gate.objects.filter(workflow_id=handle.id).exists()
    return failed.value.cause.message


def test_a_continue_as_new_made_by_a_client_completing_a_task_itself_does_nothing(temporal, worker):
    workflow_id = f"loan-rogue-{uuid.uuid4().hex[:8]}"
    forged = forged_input(temporal, worker, workflow_id)

    handle = continued_by_a_raw_client(temporal, worker, workflow_id, forged)

    assert "no worker continued it. It carries no continuation seal" in refusal_of(temporal, handle)


def test_a_workers_continuation_is_sealed_and_goes_on_and_its_seal_is_good_for_nothing_else(temporal, worker):
    """The relay (tests/workflows/continued_runs.py) continues as new on the real worker into a
    loan run, which goes on to its gate and its decision. Its continue-as-new event holds the
    worker's seal; a client copies it onto its own forged continuation, which is refused."""
    agent_input = loan_input()
    first = ChatMessage(role="user", content=json.dumps(agent_input.case, sort_keys=True))
    real = start_loan(temporal, worker, dataclasses.replace(agent_input, carry=AgentState(messages=[first])))
    gate = wait_for_gate(temporal, real)
    actions.decide(temporal, real, gate.gate_id, reason="Within policy.")
    assert temporal.run(real.result())["outcome"] == "approved"
    started = temporal.run(real.fetch_history()).events[0].workflow_execution_started_event_attributes
    relay = temporal.client.get_workflow_handle(real.id, run_id=started.continued_execution_run_id)
    ended = temporal.run(relay.fetch_history()).events[-1]
    seal = ended.workflow_execution_continued_as_new_event_attributes.header.fields[HEADERS[CONTINUATION]]
    record_history(temporal, relay, "relay_sealed_continuation")
    record_history(temporal, real, "loan_sealed_continuation_continued")
    workflow_id = f"loan-rogue-{uuid.uuid4().hex[:8]}"

    handle = continued_by_a_raw_client(
        temporal,
        worker,
        workflow_id,
        forged_input(temporal, worker, workflow_id),
        {HEADERS[CONTINUATION]: seal},
    )

    assert "seal does not match it" in refusal_of(temporal, handle)


def test_a_run_continued_before_the_rollout_time_goes_on_unsealed(temporal, portal_settings):
    later = datetime.now(UTC) + timedelta(hours=1)
    with temporal.worker(portal_activities=PORTAL_ACTIVITIES, unsealed_before=later) as queue:
        workflow_id = f"loan-rollout-{uuid.uuid4().hex[:8]}"
        handle = continued_by_a_raw_client(temporal, queue, workflow_id, loan_input())

        gate = wait_for_gate(temporal, handle)  # it ran, as continued runs did before sealing

    assert gate.status == "pending"
    temporal.run(handle.terminate("test done"))


# --- the seal itself --------------------------------------------------------------------------

KEYS = NamespaceKeys("k1", {"k1": new_key()})
SEALS = SealKeys.derived_from(KEYS, "default")
CLAIMS = {"workflow_type": AGENT_WORKFLOW, "workflow_id": "loan-1", "continued_run_id": "run-1"}


def test_a_seal_verifies_for_what_it_sealed_only():
    seal = SEALS.seal(CONTINUATION, CLAIMS)

    assert SEALS.refusal(seal, CONTINUATION, CLAIMS) is None
    assert "does not match" in (SEALS.refusal(seal, "start", CLAIMS) or "")  # a seal is for one kind
    for name in CLAIMS:
        assert "does not match" in (
            SEALS.refusal(seal, CONTINUATION, {**CLAIMS, name: CLAIMS[name] + "x"}) or ""
        )


def test_seals_rotate_with_the_payload_keys_and_stay_in_their_namespace():
    old_seal = SEALS.seal(CONTINUATION, CLAIMS)
    rotated = SealKeys.derived_from(NamespaceKeys("k2", {**KEYS.keys, "k2": new_key()}), "default")
    elsewhere = SealKeys.derived_from(KEYS, "payments")

    assert rotated.refusal(old_seal, CONTINUATION, CLAIMS) is None  # the older key still verifies
    assert b'"k2"' in rotated.seal(CONTINUATION, CLAIMS).data  # the new one seals
    assert "does not match" in (
        elsewhere.refusal(old_seal, CONTINUATION, CLAIMS) or ""
    )  # another namespace's


MALFORMED = {
    "empty": b"",
    "not JSON": b"not json",
    "a list": b"[]",
    "no tag": b'{"key_id": "k1"}',
    "a number for a key": b'{"key_id": 1, "tag": "00"}',
    "a text-direction override": b'{"key_id": "k1", "tag": "\\u202e00"}',
    "100,000 characters": b'{"key_id": "k1", "tag": "' + b"0" * 100_000 + b'"}',
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_or_foreign_seal_is_refused_with_words(data):
    refusal = SEALS.refusal(Payload(metadata={"encoding": b"json/plain"}, data=data), CONTINUATION, CLAIMS)

    assert refusal and refusal.endswith(".")


def test_a_seal_under_a_key_this_worker_lacks_fails_the_task_not_the_run():
    """A worker left out of a payload key rotation: its task is tried again (by a worker that has
    the key), never a run failed for good."""
    rotated = SealKeys.derived_from(NamespaceKeys("k2", {**KEYS.keys, "k2": new_key()}), "default")

    with pytest.raises(UnknownSealKey, match="'k2', which this worker does not hold"):
        SEALS.refusal(rotated.seal(CONTINUATION, CLAIMS), CONTINUATION, CLAIMS)

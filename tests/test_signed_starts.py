"""Workers run only the runs the portal started (agents/framework/start_claims.py).

Found by the attacker's review of the worker keyring: whoever starts a run writes its input, and
the input decides what the run does (a pinned spec with no gate acts with no review; its approval
action may name any registered activity). A raw Temporal client could start such a run. Now each
start from the portal's clients carries the portal's signature over the run's type, id and input
(reviewer_portal/trust/start_signing.py); a worker fails a run without one at its first step, having
scheduled nothing, and says why.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowFailureError,
    WorkflowQueryFailedError,
)
from temporalio.common import RetryPolicy

from agents.framework.signing import signed_at_text
from agents.framework.start_claims import (
    START_CLAIM_HEADER,
    START_REFUSED,
    StartClaim,
    start_message,
    start_refusal,
)
from agents.framework.strict_json import STRICT_DATA_CONVERTER
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.models import Gate
from reviewer_portal.temporal_client import data_converter, seal_keys
from reviewer_portal.trust.keys import generate, signing_key
from reviewer_portal.trust.start_signing import SignedStarts, start_claim
from tests.conftest import event_types, loan_input, start_loan, wait_for_gate

pytestmark = pytest.mark.once  # the agents on Temporal: one CI pass

CONVERTER = STRICT_DATA_CONVERTER.payload_converter
DONE_NOTHING = {"EVENT_TYPE_ACTIVITY_TASK_SCHEDULED", "EVENT_TYPE_TIMER_STARTED"}


class Forge(Interceptor):
    """A raw client's starts: `sign(input)` may add a header of its choosing, then `change(input)`
    may alter what is sent."""

    def __init__(self, sign=lambda input: None, change=lambda input: None) -> None:
        self.sign, self.change = sign, change

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        forge = self

        class Start(OutboundInterceptor):
            async def start_workflow(self, input: StartWorkflowInput) -> Any:
                claim = forge.sign(input)
                if claim is not None:
                    input.headers = {**input.headers, START_CLAIM_HEADER: claim.to_header()}
                forge.change(input)
                return await super().start_workflow(input)

        return Start(next)


def start_with(temporal, queue: str, forge: Forge, agent_input=None):
    async def start():
        client = await Client.connect(temporal.address, data_converter=data_converter(), interceptors=[forge])
        workflow_id = f"loan-raw-{uuid.uuid4().hex[:10]}"
        return await client.start_workflow(
            AgentWorkflow.run, agent_input or loan_input(), id=workflow_id, task_queue=queue
        )

    return temporal.run(start())


def refusal_of(temporal, handle) -> str:
    with pytest.raises(WorkflowFailureError) as failed:
        temporal.run(handle.result())
    assert failed.value.cause.type == START_REFUSED
    assert not DONE_NOTHING & set(event_types(temporal, handle))  # no publish, no tool, no SLA timer
    assert not Gate.objects.filter(workflow_id=handle.id).exists()
    # A query replays the failed run: the recorded refusal fails it again, and it answers nothing.
    with pytest.raises(WorkflowQueryFailedError):
        temporal.run(handle.query(AgentWorkflow.all_gates))
    return failed.value.cause.message


def test_a_run_started_without_the_portals_signature_does_nothing(temporal, worker):
    handle = start_with(temporal, worker, Forge())

    assert "not started by the portal" in refusal_of(temporal, handle)


def test_a_start_signed_with_a_key_of_the_starters_own_is_refused(temporal, worker):
    stranger = generate(key_id="stranger")
    handle = start_with(temporal, worker, Forge(sign=lambda input: start_claim(stranger, CONVERTER, input)))

    assert "a key the portal never published (stranger)" in refusal_of(temporal, handle)


def no_gate(input: StartWorkflowInput) -> None:
    agent_input = input.args[0]
    input.args = [dataclasses.replace(agent_input, spec=dataclasses.replace(agent_input.spec, gate=None))]


@pytest.mark.parametrize(
    "change, what",
    [
        (no_gate, "a spec with no gate"),
        (lambda input: setattr(input, "id", input.id + "-other"), "another workflow id"),
    ],
)
def test_a_portal_signature_over_other_input_is_refused(temporal, worker, change, what):
    signed = Forge(sign=lambda input: start_claim(signing_key(), CONVERTER, input), change=change)

    handle = start_with(temporal, worker, signed)

    assert "does not match what the portal signed" in refusal_of(temporal, handle), what


def test_a_signed_start_copied_and_started_again_later_is_refused(temporal, worker):
    long_ago = timezone.now() - timedelta(minutes=30)
    copied = Forge(sign=lambda input: start_claim(signing_key(), CONVERTER, input, now=long_ago))

    handle = start_with(temporal, worker, copied)

    assert "not within minutes of its signature" in refusal_of(temporal, handle)


def test_the_portals_own_start_runs_to_its_gate_whole_numbers_in_float_fields_too(temporal, worker):
    # The tests' client signs as the portal's does (SignedStarts). A warning turned off with
    # warn_at=0 reaches the worker as 0.0, and the digest is the same.
    agent_input = loan_input()
    spec = dataclasses.replace(agent_input.spec, gate=dataclasses.replace(agent_input.spec.gate, warn_at=0))

    handle = start_loan(temporal, worker, dataclasses.replace(agent_input, spec=spec))

    assert wait_for_gate(temporal, handle).status == "pending"
    temporal.run(handle.terminate("test done"))


def test_a_signed_start_with_a_retry_policy_is_refused(temporal, worker):
    # A retry policy (or a cron schedule) would run the starter's input again, later.
    signed = Forge(
        sign=lambda input: start_claim(signing_key(), CONVERTER, input),
        change=lambda input: setattr(input, "retry_policy", RetryPolicy(maximum_attempts=2)),
    )

    handle = start_with(temporal, worker, signed)

    assert "no run on a schedule or with a retry policy" in refusal_of(temporal, handle)


def test_a_process_without_the_signing_key_cannot_start_a_run(temporal):
    async def start():
        client = await Client.connect(
            temporal.address,
            data_converter=data_converter(),
            interceptors=[SignedStarts(CONVERTER, seal_keys("default"), key=lambda: None)],
        )
        await client.start_workflow(
            AgentWorkflow.run, loan_input(), id=f"loan-{uuid.uuid4().hex[:8]}", task_queue="none"
        )

    with pytest.raises(
        ImproperlyConfigured, match="holds no portal signing key, so it cannot start AgentWorkflow"
    ):
        temporal.run(start())


def test_a_signature_names_the_workflow_type_it_was_made_for(portal_signing_key):
    # Started as another type, an input rarely even decodes; the signature refuses it regardless.
    at = timezone.now()
    signed_at = signed_at_text(at)
    message = start_message(
        workflow_type="AgentWorkflow",
        workflow_id="w",
        digest="d",
        key_id=portal_signing_key.key_id,
        signed_at=signed_at,
    )
    claim = StartClaim(portal_signing_key.key_id, signed_at, portal_signing_key.sign(message))
    keyring = {portal_signing_key.key_id: portal_signing_key.public_key}
    asked = {"workflow_id": "w", "digest": "d", "started_at": at, "keyring": keyring}

    assert start_refusal(claim, workflow_type="AgentWorkflow", **asked) is None
    assert "does not match" in start_refusal(claim, workflow_type="SupportConversationWorkflow", **asked)

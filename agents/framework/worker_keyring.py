"""The worker's own word on who may act: a signed action's key must be one the portal published.

A run trusts the keys pinned in its input (agents.framework.signing), and whoever starts a run
writes its input: someone holding a Temporal credential could start a run that pins a key of their
own, then sign "approve" as any officer with it. So every worker also holds the portal's published
public keys (`manage.py signing_key keyring`, PORTAL_PUBLIC_KEYS) and refuses an action whose
signature the run resolves to any other key: same id, same public key, or no action.

The check is an interceptor on Update validators, after the run's own checks. A validator runs
when an Update arrives and never on replay, so the keyring may grow (a rotation) or lose a retired
key without touching a recorded history. Workflows that take signed actions say which keys they
pinned through `pinned_keys()`; one that does not is taken to have pinned none, and refuses every
signed action here.

The same interceptor checks each new run's start (agents.framework.start_claims): a run the portal
did not sign the start of fails at its first step, having done nothing. Only when the run first
executes, never on replay (a run that started was checked then). A run's own continue-as-new
(agents.framework.carry_origin says which those are) needs no portal signature but a worker's
seal, which the interceptor puts on every continue-as-new its runs make
(agents.framework.continuation_seal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ContinueAsNewInput,
    ExecuteWorkflowInput,
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from agents.framework.carry_origin import carry_refusal
from agents.framework.continuation_seal import CONTINUATION_HEADER, ContinuationKeys
from agents.framework.contract import ACTION_REFUSED
from agents.framework.signing import trusted_keys
from agents.framework.start_claims import (
    START_CLAIM_HEADER,
    START_REFUSED,
    StartClaim,
    input_digest,
    start_refusal,
)
from agents.framework.types import VerifyingKey

START_REFUSED_MARKER = "start-refused"
REFUSED_BEFORE = "This run's start was refused when it first ran: the portal did not sign it."


class WorkerKeyring(Interceptor):
    """Give to the Worker's `interceptors`: `keys` maps each published key id to its public key;
    `continuations` seal and check continue-as-new. A continued run made before `unsealed_before`
    goes on unsealed: set it while workers that did not seal yet may still continue runs."""

    def __init__(
        self,
        keys: Mapping[str, str],
        continuations: ContinuationKeys,
        *,
        unsealed_before: datetime | None = None,
    ) -> None:
        self.keys = dict(keys)
        self.continuations = continuations
        self.unsealed_before = unsealed_before

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        keys, continuations, unsealed_before = self.keys, self.continuations, self.unsealed_before

        class SealContinuations(WorkflowOutboundInterceptor):
            def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
                info = workflow.info()
                seal = continuations.seal(
                    workflow_type=input.workflow or info.workflow_type,
                    workflow_id=info.workflow_id,
                    continued_run_id=info.run_id,
                )
                input.headers = {**input.headers, CONTINUATION_HEADER: seal}
                super().continue_as_new(input)

        class RefuseUnpublishedKeys(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(SealContinuations(outbound))

            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                refusal = start_verdict(input, keys, Continuations(continuations, unsealed_before))
                if refusal:
                    raise ApplicationError(refusal, type=START_REFUSED, non_retryable=True)
                return await super().execute_workflow(input)

            def handle_update_validator(self, input: HandleUpdateInput) -> None:
                super().handle_update_validator(input)  # the run's checks first: shape, signature, age
                refusal = unpublished_key_refusal(input.args, pinned_keys_of(workflow.instance()), keys)
                if refusal:
                    raise ApplicationError(refusal, type=ACTION_REFUSED, non_retryable=True)

        return RefuseUnpublishedKeys


def unpublished_key_refusal(
    args: Sequence[Any], pinned: Sequence[VerifyingKey], published: Mapping[str, str]
) -> str | None:
    """Why a signed argument in `args` is not signed by a published key; None if all are."""
    for arg in args:
        signature = getattr(arg, "signature", None)
        if signature is None:
            continue
        resolved = trusted_keys(pinned, signature.endorsements).get(signature.key_id)
        if resolved is None or published.get(signature.key_id) != resolved:
            return (
                f"This action is signed with a key the portal never published ({signature.key_id}): "
                "the run was started outside the portal, or its workers were not given the portal's "
                "new public key (README, 'Trust model')."
            )
    return None


@dataclass(frozen=True)
class Continuations:
    keys: ContinuationKeys
    unsealed_before: datetime | None = None


def start_verdict(
    input: ExecuteWorkflowInput, keyring: Mapping[str, str], continuations: Continuations
) -> str | None:
    """Why this run must not go on; None if it may. Checked when the run first executes; a refusal
    is recorded as a marker (START_REFUSED_MARKER), so a replay (a query on the failed run) fails
    it again, and a run that was let through, or started before signed starts, replays as it ran
    whatever the keyring holds by then."""
    if workflow.unsafe.is_replaying():
        return REFUSED_BEFORE if workflow.patched(START_REFUSED_MARKER) else None
    refusal = unsigned_start_refusal(input, keyring, continuations)
    if refusal:
        workflow.patched(START_REFUSED_MARKER)
    return refusal


def unsigned_start_refusal(
    input: ExecuteWorkflowInput, keyring: Mapping[str, str], continuations: Continuations
) -> str | None:
    """Why this new run must not start; None if the portal signed its start, or a worker sealed
    the continue-as-new that made it."""
    info = workflow.info()
    if carry_refusal(True, info) is None:  # the server made it from a run's continue-as-new
        assert info.continued_run_id is not None  # what carry_refusal found
        unsealed_before = continuations.unsealed_before
        if unsealed_before is not None and info.workflow_start_time < unsealed_before:
            return None  # continued while workers that did not seal may have run (the rollout)
        return continuations.keys.refusal(
            input.headers.get(CONTINUATION_HEADER),
            workflow_type=info.workflow_type,
            workflow_id=info.workflow_id,
            continued_run_id=info.continued_run_id,
        )
    if info.cron_schedule or info.retry_policy is not None:  # runs again on the starter's input
        return "The portal starts no run on a schedule or with a retry policy: this one does nothing."
    return start_refusal(
        StartClaim.from_header(input.headers.get(START_CLAIM_HEADER)),
        keyring=keyring,
        workflow_type=info.workflow_type,
        workflow_id=info.workflow_id,
        digest=input_digest(workflow.payload_converter(), input.args),
        started_at=info.workflow_start_time,
    )


def pinned_keys_of(instance: object) -> list[VerifyingKey]:
    pinned = getattr(instance, "pinned_keys", None)
    return list(pinned()) if callable(pinned) else []

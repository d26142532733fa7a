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
executes, never on replay (a run that started was checked then), and never for a run's own
continue-as-new (agents.framework.carry_origin says which those are).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ExecuteWorkflowInput,
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from agents.framework.carry_origin import carry_refusal
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
    """Give to the Worker's `interceptors`: `keys` maps each published key id to its public key."""

    def __init__(self, keys: Mapping[str, str]) -> None:
        self.keys = dict(keys)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        keys = self.keys

        class RefuseUnpublishedKeys(WorkflowInboundInterceptor):
            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                refusal = start_verdict(input, keys)
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


def start_verdict(input: ExecuteWorkflowInput, keyring: Mapping[str, str]) -> str | None:
    """Why this run must not go on; None if it may. Checked when the run first executes; a refusal
    is recorded as a marker (START_REFUSED_MARKER), so a replay (a query on the failed run) fails
    it again, and a run that was let through, or started before signed starts, replays as it ran
    whatever the keyring holds by then."""
    if workflow.unsafe.is_replaying():
        return REFUSED_BEFORE if workflow.patched(START_REFUSED_MARKER) else None
    refusal = unsigned_start_refusal(input, keyring)
    if refusal:
        workflow.patched(START_REFUSED_MARKER)
    return refusal


def unsigned_start_refusal(input: ExecuteWorkflowInput, keyring: Mapping[str, str]) -> str | None:
    """Why this new run must not start; None if the portal signed its start (or it continues a run)."""
    info = workflow.info()
    if carry_refusal(True, info) is None:  # the server made it from a run that was checked
        return None
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

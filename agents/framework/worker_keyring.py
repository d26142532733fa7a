"""The worker's own word on who may act: a signed action's key must be one the portal published,
a run must be one the portal started (or a worker continued), and an activity one a worker's run
scheduled.

A run trusts the keys pinned in its input (agents.framework.signing), and whoever starts a run
writes its input: someone holding a Temporal credential could start a run that pins a key of their
own, then sign "approve" as any officer with it. So every worker also holds the portal's published
public keys (`manage.py signing_key keyring`, PORTAL_PUBLIC_KEYS) and refuses an action whose
signature the run resolves to any other key: same id, same public key, or no action. The check is
an interceptor on Update validators, after the run's own checks. A validator runs when an Update
arrives and never on replay, so the keyring may grow (a rotation) or lose a retired key without
touching a recorded history. Workflows that take signed actions say which keys they pinned through
`pinned_keys()`; one that does not is taken to have pinned none, and refuses every signed action.

The same interceptor checks each run's start or continuation when it executes it (replays
included) and seals every continue-as-new and activity its runs make (agents.framework.run_checks,
agents.framework.seals); and it checks every activity's seal before running it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ContinueAsNewInput,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleQueryInput,
    HandleUpdateInput,
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from agents.framework.contract import ACTION_REFUSED
from agents.framework.run_checks import (
    ACTIVITY_REFUSED,
    RunChecks,
    activity_refusal,
    activity_seal,
    start_verdict,
)
from agents.framework.seals import ACTIVITY, CONTINUATION, HEADERS
from agents.framework.signing import trusted_keys
from agents.framework.start_claims import START_REFUSED
from agents.framework.types import VerifyingKey


class WorkerKeyring(Interceptor):
    """Give to the Worker's `interceptors`, with what it checks runs and activities with."""

    def __init__(self, checks: RunChecks) -> None:
        self.checks = checks

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CheckActivities(next, self.checks)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        checks = self.checks

        class SealWhatTheRunMakes(WorkflowOutboundInterceptor):
            def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
                info = workflow.info()
                claims = {
                    "workflow_type": input.workflow or info.workflow_type,
                    "workflow_id": info.workflow_id,
                    "continued_run_id": info.run_id,
                }
                input.headers = {
                    **input.headers,
                    HEADERS[CONTINUATION]: checks.seals.seal(CONTINUATION, claims),
                }
                super().continue_as_new(input)

            def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
                input.headers = {
                    **input.headers,
                    HEADERS[ACTIVITY]: activity_seal(checks.seals, input.activity),
                }
                return super().start_activity(input)

        class RefuseUnpublishedKeys(WorkflowInboundInterceptor):
            refused = ""  # why this run was refused, once it was

            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(SealWhatTheRunMakes(outbound))

            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                refusal = start_verdict(input, checks)
                if refusal:
                    self.refused = refusal
                    raise ApplicationError(refusal, type=START_REFUSED, non_retryable=True)
                return await super().execute_workflow(input)

            def handle_query(self, input: HandleQueryInput) -> Any:
                # A refused run's state came from its forged input: it answers nothing, so nothing
                # (the portal's catch-up, a transcript) reads a gate or a reply from it.
                if self.refused:
                    raise ApplicationError(f"This run was refused: {self.refused}", type=START_REFUSED)
                return super().handle_query(input)

            def handle_update_validator(self, input: HandleUpdateInput) -> None:
                super().handle_update_validator(input)  # the run's checks first: shape, signature, age
                refusal = unpublished_key_refusal(
                    input.args, pinned_keys_of(workflow.instance()), checks.keyring
                )
                if refusal:
                    raise ApplicationError(refusal, type=ACTION_REFUSED, non_retryable=True)

        return RefuseUnpublishedKeys


class _CheckActivities(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, checks: RunChecks) -> None:
        super().__init__(next)
        self.checks = checks

    def execute_activity(self, input: ExecuteActivityInput) -> Any:
        # Not async: for a thread-pool activity the SDK calls this in its thread and takes the
        # value; for an async one it awaits what this returns. The check runs first either way.
        refusal = activity_refusal(input.headers, self.checks)
        if refusal:
            raise ApplicationError(refusal, type=ACTIVITY_REFUSED, non_retryable=True)
        return super().execute_activity(input)


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


def pinned_keys_of(instance: object) -> list[VerifyingKey]:
    pinned = getattr(instance, "pinned_keys", None)
    return list(pinned()) if callable(pinned) else []

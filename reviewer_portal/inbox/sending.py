"""Sending one reviewer action to its run: the signed envelope for a delivery, the Temporal calls,
and the run's answer in the portal's terms. reviewer_portal.inbox.delivery decides when to send
and records what came back."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.converter import AdvancedJSONEncoder, value_to_type
from temporalio.service import RPCError, RPCStatusCode

from agents.framework.contract import (
    ALREADY_APPLIED,
    ANNOTATE,
    ASSIGN,
    DECIDE,
)
from agents.framework.gate_changes import GatePatch
from agents.framework.reviewer_actions import (
    ActionInput,
    ActionResult,
    AnnotateInput,
    AssignInput,
    DecideInput,
)
from agents.framework.signing import MAX_AGE
from reviewer_portal.accounts.roles import reviewer_roles_of
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.row_guards import DECIDED
from reviewer_portal.inbox.run_queries import REPLACED, applied_actions, run_replaced
from reviewer_portal.inbox.seen import CONTENT
from reviewer_portal.request_threads import async_to_sync_aside
from reviewer_portal.temporal_client import TemporalUnreachable, client_for_agent
from reviewer_portal.trust.signer import sign_action

log = logging.getLogger(__name__)
Status = ActionAttempt.Status
INPUTS: dict[str, type[ActionInput]] = {DECIDE: DecideInput, ANNOTATE: AnnotateInput, ASSIGN: AssignInput}
# Far below Temporal's own limits (2 MB a payload, 512 KiB of Updates in flight per run in the
# embedded stack): a reviewer action is a few kilobytes.
MAX_ACTION_BYTES = 256 * 1024
UNREACHABLE = "Temporal is not reachable right now."
NO_ANSWER = "The agent did not answer in time."
RUN_ENDED = "This agent run is no longer running, so it cannot take this action."


@dataclass(frozen=True)
class Answer:
    status: str
    detail: str = ""
    change: GatePatch | None = None


@dataclass(frozen=True)
class Envelope:
    """One delivery of an action: signed for this Update id, at this time."""

    update_id: str
    signed: ActionInput
    signed_at: datetime


def envelope_for(attempt: ActionAttempt) -> Envelope:
    """The last envelope while it is fresh enough to reach the run in time (so concurrent senders
    send the same Update, which Temporal answers once), else a newly signed one."""
    now = timezone.now()
    reuse_for = MAX_AGE - timedelta(seconds=settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS + 10)
    if attempt.envelope is not None and attempt.signed_at is not None and now - attempt.signed_at < reuse_for:
        return _stored(attempt)
    deliveries = attempt.deliveries + 1
    update_id = f"{attempt.action_id}#{deliveries}"
    signed = sign_action(
        attempt.action,
        action_input(attempt),
        workflow_id=attempt.gate.workflow_id,
        update_id=update_id,
        now=now,
    )
    renewed = ActionAttempt.objects.filter(pk=attempt.pk, deliveries=attempt.deliveries).update(
        deliveries=deliveries, update_id=update_id, signed_at=now, envelope=as_json(signed), updated_at=now
    )
    attempt.refresh_from_db()
    if not renewed:  # another process signed it first: send theirs
        return _stored(attempt)
    return Envelope(update_id, signed, now)


def action_input(attempt: ActionAttempt) -> ActionInput:
    """The action as the portal vouches for it now: the reviewer's current name and roles."""
    reviewer = attempt.reviewer
    who: dict[str, Any] = {
        "gate_id": attempt.gate.gate_id,
        "reviewer": reviewer.get_username(),
        "reviewer_roles": sorted(reviewer_roles_of(reviewer)),
        "reviewer_id": str(reviewer.pk),
        "action_id": attempt.action_id,
        "origin": attempt.origin,
    }
    if attempt.action == DECIDE:
        revision = attempt.revision if attempt.revision is not None else -1
        # None kept by a decision from before digests; none named while workers may be older.
        content = (attempt.seen or {}).get(CONTENT, "") if settings.DECISIONS_NAME_CONTENT else ""
        return DecideInput(
            decision=attempt.decision,
            reason=attempt.reason,
            edits=dict(attempt.edits),
            revision=revision,
            content=content if isinstance(content, str) else "",
            **who,
        )
    if attempt.action == ANNOTATE:
        return AnnotateInput(text=attempt.text, **who)
    assignee = attempt.assignee
    return AssignInput(
        assignee=assignee.get_username() if assignee else "",
        assignee_roles=sorted(reviewer_roles_of(assignee)) if assignee else [],
        assignee_id=str(assignee.pk) if assignee else "",
        reason=attempt.reason,
        **who,
    )


def local_refusal(attempt: ActionAttempt) -> str:
    """Why the portal will not send this action at all ("" if it will)."""
    if not attempt.reviewer.is_active:
        return "Your account is no longer active, so the portal does not send this action."
    if attempt.assignee is not None and not attempt.assignee.is_active:
        return f"{attempt.assignee.get_username()} is no longer active."
    gate = attempt.gate
    if attempt.action == DECIDE and gate.status in DECIDED and gate.decision_id != attempt.action_id:
        # The run may hold it open again (a reset): the decision applied stands (inbox.row_guards).
        return (
            f"This gate was already decided ({gate.status} by {gate.decided_by}), so the portal sends no "
            "other decision; if its agent run holds it open again (a reset), the platform team settles it."
        )
    size = len(json.dumps(as_json(action_input(attempt))))
    if size > MAX_ACTION_BYTES:
        return f"This action is too large to send ({size:,} bytes; at most {MAX_ACTION_BYTES:,})."
    return ""


def send(attempt: ActionAttempt, envelope: Envelope) -> Answer:
    """Send the envelope as the action's Update and say how the run answered."""
    return async_to_sync_aside(send_async)(attempt, attempt.gate, envelope)


def send_together(deliveries: Sequence[tuple[ActionAttempt, Gate, Envelope]]) -> list[Answer]:
    """`send` for several actions, their Updates awaited at once: when a worker is down, the
    caller waits one timeout for all of them, not one each. Answers in the order given."""

    async def every_answer() -> list[Answer]:
        answers = await asyncio.gather(
            *(send_async(*delivery) for delivery in deliveries), return_exceptions=True
        )
        return [
            _undelivered_if_failed(answer, delivery[0])
            for answer, delivery in zip(answers, deliveries, strict=True)
        ]

    return async_to_sync_aside(every_answer)() if deliveries else []


async def send_async(attempt: ActionAttempt, gate: Gate, envelope: Envelope) -> Answer:
    """`send` on the caller's event loop (the async decide view): the Update is awaited there,
    with no hop to another loop; only a run that has ended needs the database (in a thread).
    `gate` is the attempt's, passed loaded: the ORM does not run on the event loop."""
    try:
        result = await _execute(gate, attempt.action, envelope)
    except TimeoutError:
        return Answer(Status.UNDELIVERED, NO_ANSWER)
    except TemporalUnreachable:
        return Answer(Status.UNDELIVERED, UNREACHABLE)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if getattr(cause, "type", None) == ALREADY_APPLIED:
            return Answer(Status.ACCEPTED)
        return Answer(Status.REFUSED, getattr(cause, "message", None) or str(cause or err))
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return await sync_to_async(_answer_from_a_closed_run)(attempt)
        if err.status == RPCStatusCode.INVALID_ARGUMENT:
            return Answer(Status.REFUSED, f"Temporal refused this action as malformed: {err.message}")
        return Answer(Status.UNDELIVERED, UNREACHABLE)
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        return Answer(Status.UNDELIVERED, NO_ANSWER)
    return Answer(Status.ACCEPTED, change=result.change)


def as_json(value: object) -> Any:
    return json.loads(json.dumps(value, cls=AdvancedJSONEncoder))


def _answer_from_a_closed_run(attempt: ActionAttempt) -> Answer:
    """The run has ended: it applied the action before (its answer was lost), or never will."""
    applied = applied_actions(attempt)
    if applied is None:
        return Answer(Status.UNDELIVERED, "The agent run has ended; the portal checks whether it took this.")
    if attempt.action_id in applied:
        return Answer(Status.ACCEPTED)
    replaced = bool(attempt.gate.chain_id) and run_replaced(attempt.gate)
    return Answer(Status.REFUSED, REPLACED if replaced else RUN_ENDED)


async def _execute(gate: Gate, action: str, envelope: Envelope) -> ActionResult:
    client: Client = await client_for_agent(gate.agent)
    timeout = settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS
    # The SDK asks again when the server answers "not yet" just before the RPC's deadline, so the
    # RPC timeout alone could hold the reviewer twice as long: this bounds the whole wait.
    async with asyncio.timeout(timeout):
        # Named by its chain: Temporal answers "not found" rather than hand the action to a run
        # started again under the same id (reviewer_portal.inbox.publishing).
        handle = client.get_workflow_handle(gate.workflow_id, first_execution_run_id=gate.chain_id or None)
        return await handle.execute_update(
            action,  # the Update is named for the action
            envelope.signed,
            id=envelope.update_id,
            result_type=ActionResult,
            rpc_timeout=timedelta(seconds=timeout),
        )


def _undelivered_if_failed(answer: Answer | BaseException, attempt: ActionAttempt) -> Answer:
    """One send of several that failed unexpectedly (a full disk for its claim-check file, say):
    logged, and left queued for the delivery loop; the others' answers stand."""
    if isinstance(answer, Answer):
        return answer
    if not isinstance(answer, Exception):  # cancelled: the request itself is going away
        raise answer
    log.error("Sending %s failed unexpectedly; it is tried again later", attempt.action_id, exc_info=answer)
    return Answer(Status.UNDELIVERED, "It could not be sent just now; it is tried again shortly.")


def _stored(attempt: ActionAttempt) -> Envelope:
    assert attempt.envelope is not None and attempt.signed_at is not None
    return Envelope(
        attempt.update_id, value_to_type(INPUTS[attempt.action], attempt.envelope), attempt.signed_at
    )

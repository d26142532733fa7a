"""Delivering reviewer actions: record, sign, send as a Temporal Update, record the answer.

One path for every decide, annotate and assign, from the gate page, the bulk form, the operator
command and the redelivery job alike:

1. `action_record` keeps the action before anything is sent, keyed by its `action_id`, so a
   double submit finds the same row; a reviewer has at most one decision per gate waiting.
2. `action_deliver` signs it for this delivery and sends it. A signature is good for minutes
   (agents.framework.signing.MAX_AGE), so a delivery after an outage is signed again, under a new
   Update id; the run applies an action once however often it arrives (it keeps applied ids).
3. The answer is recorded: accepted (the projection takes the change at once), refused (kept:
   Temporal keeps no trace of a refused Update), or undelivered (queued, and sent again by
   `actions_redeliver`, which `manage.py deliver_decisions` runs every 30 s).
4. `action_withdraw` takes a queued action back. A copy Temporal already holds could still be
   applied until its signature expires, so a withdrawal is final only after that, and once the
   run confirms it never applied the action.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.converter import AdvancedJSONEncoder, value_to_type
from temporalio.service import RPCError, RPCStatusCode

from agents.framework.contract import ALREADY_APPLIED, ANNOTATE, ASSIGN, DECIDE, PORTAL
from agents.framework.reviewer_actions import (
    ActionInput,
    ActionResult,
    AnnotateInput,
    AssignInput,
    DecideInput,
)
from agents.framework.signing import MAX_AGE, MAX_SKEW
from agents.framework.types import GatePatch
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.accounts.roles import reviewer_roles_of
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.projection import gate_apply_patch
from reviewer_portal.temporal_client import TemporalUnreachable, get_client
from reviewer_portal.trust.signer import sign_action

log = logging.getLogger(__name__)
Status = ActionAttempt.Status
INPUTS: dict[str, type[ActionInput]] = {DECIDE: DecideInput, ANNOTATE: AnnotateInput, ASSIGN: AssignInput}
UPDATES = {DECIDE: AgentWorkflow.decide, ANNOTATE: AgentWorkflow.annotate, ASSIGN: AgentWorkflow.assign}
# Far below Temporal's own limits (2 MB a payload, 512 KiB of Updates in flight per run in the
# embedded stack): a reviewer action is a few kilobytes.
MAX_ACTION_BYTES = 256 * 1024
UNREACHABLE = "Temporal is not reachable right now."
NO_ANSWER = "The agent did not answer in time."


class ActionConflict(Exception):
    """The action cannot be recorded as asked; the message says why, in a reviewer's words."""


@dataclass(frozen=True)
class Answer:
    status: str
    detail: str = ""
    change: GatePatch | None = None


def action_record(
    *,
    gate: Gate,
    reviewer: AbstractBaseUser,
    action: str,
    submission_id: str,
    origin: str = PORTAL,
    decision: str = "",
    reason: str = "",
    edits: dict[str, str] | None = None,
    text: str = "",
    assignee: AbstractBaseUser | None = None,
) -> ActionAttempt:
    """Keep a reviewer's action before it is sent; the same form again finds the same record.

    Raises PermissionError for another reviewer's form, and ActionConflict for a form reused with
    other content or a second decision while the first waits to be delivered.
    """
    content = {"decision": decision, "reason": reason, "edits": edits or {}, "text": text}
    content["assignee_id"] = assignee.pk if assignee is not None else None
    try:
        with transaction.atomic():
            attempt, created = ActionAttempt.objects.get_or_create(
                action_id=f"{action}:{gate.gate_id}:{submission_id}",
                defaults={"gate": gate, "reviewer": reviewer, "action": action, "origin": origin, **content},
            )
    except IntegrityError as err:
        raise ActionConflict(_queued_decision_text(gate, reviewer)) from err
    if attempt.reviewer_id != reviewer.pk or attempt.gate_id != gate.gate_id:
        # A replayed form of another reviewer: never act on, or reveal, their action.
        raise PermissionError("This form belongs to someone else.")
    if not created and _content(attempt) != content:
        raise ActionConflict("This form was already sent with other content; reload the page to act again.")
    return attempt


def action_deliver(*, attempt: ActionAttempt) -> ActionAttempt:
    """Sign and send a recorded action, and record the run's answer (or that it is queued)."""
    if attempt.status not in (Status.SENDING, Status.UNDELIVERED):
        return attempt
    refusal = _local_refusal(attempt)
    if refusal:
        return _record(attempt, Answer(Status.REFUSED, refusal))
    update_id, signed = _envelope(attempt)
    claimed = ActionAttempt.objects.filter(pk=attempt.pk, status__in=[Status.SENDING, Status.UNDELIVERED])
    if not claimed.update(status=Status.SENDING, updated_at=timezone.now()):
        attempt.refresh_from_db()  # withdrawn or answered meanwhile
        return attempt
    return _record(attempt, _send(attempt, update_id, signed))


def actions_redeliver() -> list[ActionAttempt]:
    """Send every queued action again (and any a dead portal left `sending`), oldest first; then
    settle the withdrawals whose copies in flight have expired."""
    due = ActionAttempt.objects.filter(
        Q(status=Status.UNDELIVERED) | Q(status=Status.SENDING, updated_at__lt=_stale_sending())
    )
    delivered = [action_deliver(attempt=a) for a in _with_people(due).order_by("created_at")]
    withdrawing = _with_people(ActionAttempt.objects.filter(status=Status.WITHDRAWING)).order_by("created_at")
    return delivered + [action_settle_withdrawal(attempt=a) for a in withdrawing]


def action_withdraw(*, attempt: ActionAttempt, reviewer: AbstractBaseUser) -> ActionAttempt:
    """The reviewer takes back a queued action: it is never sent again."""
    if attempt.reviewer_id != reviewer.pk:
        raise PermissionError("Only the reviewer who made it may withdraw it.")
    now = timezone.now()
    # Queued, or left `sending` by a portal that died mid-send.
    waiting = Q(status=Status.UNDELIVERED) | Q(status=Status.SENDING, updated_at__lt=_stale_sending())
    queued = ActionAttempt.objects.filter(waiting, pk=attempt.pk)
    if not queued.update(status=Status.WITHDRAWING, detail="", updated_at=now):
        attempt.refresh_from_db()
        return attempt
    attempt.refresh_from_db()
    return action_settle_withdrawal(attempt=attempt)


def action_settle_withdrawal(*, attempt: ActionAttempt) -> ActionAttempt:
    """Make a withdrawal final once no copy in Temporal can still be applied and the run confirms
    it never applied the action; if it did, the action was accepted after all, and says so."""
    if attempt.status != Status.WITHDRAWING:
        return attempt
    if attempt.in_flight_until is not None:
        if timezone.now() < attempt.in_flight_until:
            return attempt
        applied = _applied_actions(attempt)
        if applied is None:
            return attempt
        if attempt.action_id in applied:
            late = "It reached the agent before the withdrawal, so it stands."
            return _finish(attempt, Status.ACCEPTED, late, expect=Status.WITHDRAWING)
    return _finish(attempt, Status.WITHDRAWN, "Withdrawn by its reviewer before it reached the agent.")


# --- signing and sending ----------------------------------------------------------------------------


def _envelope(attempt: ActionAttempt) -> tuple[str, ActionInput]:
    """The signed input for this delivery: the last one while it is fresh enough to reach the run
    in time (so concurrent senders send the same Update), else a newly signed one."""
    now = timezone.now()
    reuse_for = MAX_AGE - timedelta(seconds=settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS + 10)
    if attempt.envelope is not None and attempt.signed_at is not None and now - attempt.signed_at < reuse_for:
        return attempt.update_id, value_to_type(INPUTS[attempt.action], attempt.envelope)
    deliveries = attempt.deliveries + 1
    update_id = f"{attempt.action_id}#{deliveries}"
    signed = sign_action(
        attempt.action,
        _action_input(attempt),
        workflow_id=attempt.gate.workflow_id,
        update_id=update_id,
        now=now,
    )
    renewed = ActionAttempt.objects.filter(pk=attempt.pk, deliveries=attempt.deliveries).update(
        deliveries=deliveries, update_id=update_id, signed_at=now, envelope=_as_json(signed), updated_at=now
    )
    attempt.refresh_from_db()
    if not renewed:  # another process signed it first: send theirs
        return attempt.update_id, value_to_type(INPUTS[attempt.action], attempt.envelope)
    return update_id, signed


def _action_input(attempt: ActionAttempt) -> ActionInput:
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
        return DecideInput(decision=attempt.decision, reason=attempt.reason, edits=dict(attempt.edits), **who)
    if attempt.action == ANNOTATE:
        return AnnotateInput(text=attempt.text, **who)
    assignee = attempt.assignee
    return AssignInput(
        assignee=assignee.get_username() if assignee else "",
        assignee_roles=sorted(reviewer_roles_of(assignee)) if assignee else [],
        assignee_id=str(assignee.pk) if assignee else "",
        **who,
    )


def _send(attempt: ActionAttempt, update_id: str, signed: ActionInput) -> Answer:
    try:
        client = async_to_sync(get_client)()
    except TemporalUnreachable:
        return Answer(Status.UNDELIVERED, UNREACHABLE)
    # From here a copy may sit in Temporal until its signature expires (see action_withdraw).
    assert attempt.signed_at is not None
    in_flight_until = attempt.signed_at + MAX_AGE + MAX_SKEW
    ActionAttempt.objects.filter(pk=attempt.pk).update(in_flight_until=in_flight_until)
    try:
        result = async_to_sync(_execute)(client, attempt.gate.workflow_id, attempt.action, signed, update_id)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if getattr(cause, "type", None) == ALREADY_APPLIED:
            return Answer(Status.ACCEPTED)
        return Answer(Status.REFUSED, getattr(cause, "message", None) or str(cause or err))
    except RPCError as err:
        if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            return _answer_from_a_closed_run(attempt)
        return Answer(Status.UNDELIVERED, UNREACHABLE)
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        return Answer(Status.UNDELIVERED, NO_ANSWER)
    return Answer(Status.ACCEPTED, change=result.change)


def _answer_from_a_closed_run(attempt: ActionAttempt) -> Answer:
    """The run has ended: it applied the action before (its answer was lost), or never will."""
    applied = _applied_actions(attempt)
    if applied is None:
        return Answer(Status.UNDELIVERED, "The agent run has ended; the portal checks whether it took this.")
    if attempt.action_id in applied:
        return Answer(Status.ACCEPTED)
    return Answer(Status.REFUSED, "This agent run is no longer running, so it cannot take this action.")


async def _execute(
    client: Client, workflow_id: str, action: str, signed: ActionInput, update_id: str
) -> ActionResult:
    return await client.get_workflow_handle(workflow_id).execute_update(
        UPDATES[action],
        signed,
        id=update_id,
        rpc_timeout=timedelta(seconds=settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS),
    )


def _record(attempt: ActionAttempt, answer: Answer) -> ActionAttempt:
    """Keep the run's answer. Undelivered only replaces `sending` (a withdrawal made meanwhile
    stands); accepted or refused are final and replace anything but an earlier acceptance."""
    expect = Status.SENDING if answer.status == Status.UNDELIVERED else None
    _finish(attempt, answer.status, answer.detail, expect=expect)
    if answer.change is not None:
        # Separately: the projection is caught up by the workflow's own publish anyway.
        gate_apply_patch(patch=answer.change)
    if attempt.status != Status.ACCEPTED:
        log.warning("%s %s: %s %s", attempt.action, attempt.action_id, attempt.status, attempt.detail)
    return attempt


def _finish(attempt: ActionAttempt, status: str, detail: str, *, expect: str | None = None) -> ActionAttempt:
    rows = ActionAttempt.objects.filter(pk=attempt.pk).exclude(status=Status.ACCEPTED)
    if expect is not None:
        rows = rows.filter(status=expect)
    rows.update(status=status, detail=detail, updated_at=timezone.now())
    attempt.refresh_from_db()
    return attempt


def _applied_actions(attempt: ActionAttempt) -> set[str] | None:
    """The actions the run applied, or None if it cannot say right now."""

    async def query() -> list[str]:
        handle = (await get_client()).get_workflow_handle(attempt.gate.workflow_id)
        timeout = timedelta(seconds=settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS)
        return await handle.query(AgentWorkflow.applied_actions, rpc_timeout=timeout)

    try:
        return set(async_to_sync(query)())
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            # The run's history is gone: its projection is the record of who decided.
            gate = Gate.objects.get(pk=attempt.gate_id)
            return {gate.decision_id} if gate.decision_id else set()
        return None
    except (TemporalUnreachable, WorkflowQueryFailedError):
        return None


def _local_refusal(attempt: ActionAttempt) -> str:
    if not attempt.reviewer.is_active:
        return "Your account is no longer active, so the portal does not send this action."
    if attempt.assignee is not None and not attempt.assignee.is_active:
        return f"{attempt.assignee.get_username()} is no longer active."
    size = len(json.dumps(_as_json(_action_input(attempt))))
    if size > MAX_ACTION_BYTES:
        return f"This action is too large to send ({size:,} bytes; at most {MAX_ACTION_BYTES:,})."
    return ""


def _content(attempt: ActionAttempt) -> dict[str, Any]:
    return {
        "decision": attempt.decision,
        "reason": attempt.reason,
        "edits": attempt.edits,
        "text": attempt.text,
        "assignee_id": attempt.assignee_id,
    }


def _queued_decision_text(gate: Gate, reviewer: AbstractBaseUser) -> str:
    waiting = ActionAttempt.objects.filter(
        gate=gate, reviewer=reviewer, action=DECIDE, status__in=ActionAttempt.OPEN
    ).first()
    noun = DECISION_NOUNS.get(waiting.decision, "decision").lower() if waiting else "decision"
    return f"Your {noun} on this gate is recorded and will be sent; withdraw it first to decide differently."


def _stale_sending() -> Any:
    """Before this, an action still `sending` was left so by a portal that died mid-send."""
    return timezone.now() - timedelta(seconds=2 * settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS + 5)


def _with_people(attempts: Any) -> Any:
    return attempts.select_related("gate", "reviewer", "assignee")


def _as_json(value: object) -> Any:
    return json.loads(json.dumps(value, cls=AdvancedJSONEncoder))


DECISION_NOUNS = {"approve": "Approval", "reject": "Rejection", "request_changes": "Change request"}

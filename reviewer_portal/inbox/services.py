"""Writes the portal makes on a reviewer's behalf: a decision becomes a Temporal Update."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from temporalio.client import (
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from agents.framework.types import AnnotateInput, AssignInput, DecideInput, DecideResult, GateSnapshot
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.accounts.roles import reviewer_roles_of
from reviewer_portal.inbox.models import DecisionAttempt, Gate
from reviewer_portal.inbox.projection import gate_apply_snapshot
from reviewer_portal.inbox.selectors import gate_bulk_eligible_for, gate_visible_to
from reviewer_portal.temporal_client import get_client

log = logging.getLogger(__name__)
Status = DecisionAttempt.Status


def decision_update_id(*, gate_id: str, submission_id: str) -> str:
    """The Update ID for one rendered decision form: resubmitting that form reuses it."""
    return f"decide:{gate_id}:{submission_id}"


def gate_decide(
    *,
    gate: Gate,
    reviewer: AbstractBaseUser,
    decision: str,
    reason: str,
    submission_id: str,
    edits: dict[str, str] | None = None,
) -> DecisionAttempt:
    """Record the decision, then deliver it; a double submit gets the first answer back."""
    attempt, created = DecisionAttempt.objects.get_or_create(
        update_id=decision_update_id(gate_id=gate.gate_id, submission_id=submission_id),
        defaults={
            "gate": gate,
            "reviewer": reviewer,
            "decision": decision,
            "reason": reason,
            "edits": edits or {},
        },
    )
    if attempt.reviewer_id != reviewer.pk:
        # A replayed form id of another reviewer: never act on, or reveal, their decision.
        raise PermissionError("This decision form belongs to someone else.")
    if not created and attempt.status in (Status.ACCEPTED, Status.REFUSED):
        return attempt
    return decision_deliver(attempt=attempt)


def decision_deliver(*, attempt: DecisionAttempt) -> DecisionAttempt:
    """Send a recorded decision as the `decide` Update and record how the workflow answered."""
    gate, reviewer = attempt.gate, attempt.reviewer
    update = DecideInput(
        gate_id=gate.gate_id,
        decision=attempt.decision,
        reason=attempt.reason,
        reviewer=reviewer.get_username(),
        reviewer_roles=sorted(reviewer_roles_of(reviewer)),
        edits=attempt.edits,
    )
    try:
        result = async_to_sync(_send_update)(
            gate.workflow_id, AgentWorkflow.decide, update, attempt.update_id
        )
    except WorkflowUpdateFailedError as err:
        attempt.status = Status.REFUSED
        attempt.detail = getattr(err.cause, "message", None) or str(err.cause or err)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            attempt.status = Status.REFUSED
            attempt.detail = "This agent run is no longer running, so it cannot take a decision."
        else:
            attempt.status = Status.UNDELIVERED
            attempt.detail = (
                "Temporal is not reachable right now; your decision is recorded and will be sent."
            )
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        attempt.status = Status.UNDELIVERED
        attempt.detail = "The agent did not answer in time; your decision is recorded and will be sent."
    else:
        attempt.status = Status.ACCEPTED
        attempt.detail = ""
    if attempt.status != Status.ACCEPTED:
        log.warning("decision %s %s: %s", attempt.update_id, attempt.status, attempt.detail)
    with transaction.atomic():
        attempt.save(update_fields=["status", "detail", "updated_at"])
        if attempt.status == Status.ACCEPTED:
            gate_apply_snapshot(snapshot=result.gate)
    return attempt


def decisions_redeliver() -> list[DecisionAttempt]:
    """Retry every recorded decision that has not reached its workflow yet."""
    pending = DecisionAttempt.objects.filter(status__in=[Status.SENDING, Status.UNDELIVERED])
    return [decision_deliver(attempt=a) for a in pending.select_related("gate", "reviewer")]


class BulkOutcome(NamedTuple):
    """One selected gate in a bulk decision: the attempt sent, or why the portal sent nothing."""

    gate_id: str
    gate: Gate | None  # None when the id is unknown or not the reviewer's to see
    attempt: DecisionAttempt | None  # None when the portal refused before sending anything
    refusal: str = ""


def gates_decide_in_bulk(
    *, user: AbstractBaseUser, gate_ids: list[str], decision: str, reason: str, submission_id: str
) -> list[BulkOutcome]:
    """Decide each selected gate with `gate_decide`: one Update per gate, each with its own ID.

    Every id is checked again first (pending, the user's role, eligible for bulk); any other is
    refused here, without a call to its workflow. The workflow still has the last word on the
    rest (four eyes, claims, expiry), and its refusal comes back in the gate's attempt.
    """
    ids = list(dict.fromkeys(gate_ids))
    eligible = gate_bulk_eligible_for(user=user).in_bulk(ids)
    visible = gate_visible_to(user=user).in_bulk([i for i in ids if i not in eligible])
    outcomes = []
    for gate_id in ids:
        gate = eligible.get(gate_id)
        if gate is None:
            refusal = _bulk_refusal(visible.get(gate_id), user)
            log.warning("bulk %s of %s by %s refused: %s", decision, gate_id, user.get_username(), refusal)
            outcomes.append(BulkOutcome(gate_id, visible.get(gate_id), None, refusal))
            continue
        # Derived, not random: resubmitting the same form reuses each gate's Update ID.
        gate_submission_id = str(uuid.uuid5(uuid.UUID(submission_id), gate_id))
        try:
            attempt = gate_decide(
                gate=gate, reviewer=user, decision=decision, reason=reason, submission_id=gate_submission_id
            )
        except PermissionError as err:
            outcomes.append(BulkOutcome(gate_id, gate, None, str(err)))
        else:
            outcomes.append(BulkOutcome(gate_id, gate, attempt))
    return outcomes


def _bulk_refusal(gate: Gate | None, user: AbstractBaseUser) -> str:
    if gate is None:
        return "No such gate in your queues."
    if gate.status != Gate.Status.PENDING:
        decided = f" by {gate.decided_by}" if gate.decided_by else ""
        return f"No longer pending ({gate.status.replace('_', ' ')}{decided})."
    if gate.role not in reviewer_roles_of(user):
        return f"Only a reviewer with the role '{gate.role_label}' may decide this gate."
    return "Not eligible for a bulk decision (risk factors, a warning or its policy): open it to decide."


@dataclass(frozen=True)
class AnnotationOutcome:
    ok: bool
    message: str


def gate_annotate(
    *, gate: Gate, reviewer: AbstractBaseUser, text: str, submission_id: str
) -> AnnotationOutcome:
    """Send a note on a gate as the `annotate` Update; the workflow keeps it in history."""
    note = AnnotateInput(
        gate_id=gate.gate_id,
        text=text,
        reviewer=reviewer.get_username(),
        reviewer_roles=sorted(reviewer_roles_of(reviewer)),
    )
    update_id = f"annotate:{gate.gate_id}:{submission_id}"
    try:
        result = async_to_sync(_send_update)(gate.workflow_id, AgentWorkflow.annotate, note, update_id)
    except WorkflowUpdateFailedError as err:
        return AnnotationOutcome(False, getattr(err.cause, "message", None) or str(err.cause or err))
    except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return AnnotationOutcome(
            False, "The agent did not answer in time; your note was not added. Try again."
        )
    gate_apply_snapshot(snapshot=result.gate)
    return AnnotationOutcome(True, "Note added.")


@dataclass(frozen=True)
class AssignmentOutcome:
    ok: bool
    message: str


def gate_assign(
    *, gate: Gate, reviewer: AbstractBaseUser, assignee: AbstractBaseUser | None, submission_id: str
) -> AssignmentOutcome:
    """Claim (assignee is the reviewer), unclaim (None) or assign a gate through the `assign`
    Update; the workflow decides who may, so two reviewers claiming at once get one winner."""
    change = AssignInput(
        gate_id=gate.gate_id,
        reviewer=reviewer.get_username(),
        reviewer_roles=sorted(reviewer_roles_of(reviewer)),
        assignee=assignee.get_username() if assignee is not None else "",
        # A workflow cannot look users up, so the portal vouches for the assignee's roles.
        assignee_roles=sorted(reviewer_roles_of(assignee)) if assignee is not None else [],
    )
    update_id = f"assign:{gate.gate_id}:{submission_id}"
    try:
        result = async_to_sync(_send_update)(gate.workflow_id, AgentWorkflow.assign, change, update_id)
    except WorkflowUpdateFailedError as err:
        refusal = getattr(err.cause, "message", None) or str(err.cause or err)
        # Refusals leave no trace in history, so the portal logs them; and the reviewer's view of
        # the gate was stale (someone else claimed it first), so catch the projection up.
        log.info("assignment %s refused: %s", update_id, refusal)
        current = async_to_sync(_current_snapshot)(gate)
        if current is not None:
            gate_apply_snapshot(snapshot=current)
        return AssignmentOutcome(False, refusal)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return AssignmentOutcome(False, "This agent run is no longer running.")
        return AssignmentOutcome(False, "Temporal is not reachable right now; nothing changed. Try again.")
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        return AssignmentOutcome(False, "The agent did not answer in time; nothing changed. Try again.")
    gate_apply_snapshot(snapshot=result.gate)
    if not change.assignee:
        return AssignmentOutcome(True, "Gate released: anyone in the queue may claim it.")
    if change.assignee == change.reviewer:
        return AssignmentOutcome(True, "You claimed this gate.")
    return AssignmentOutcome(True, f"Gate assigned to {change.assignee}.")


async def _current_snapshot(gate: Gate) -> GateSnapshot | None:
    """The workflow's own view of the gate, or None if it cannot answer right now."""
    handle = (await get_client()).get_workflow_handle(gate.workflow_id)
    timeout = timedelta(seconds=settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS)
    try:
        snapshots = await handle.query(AgentWorkflow.all_gates, rpc_timeout=timeout)
    except (RPCError, WorkflowQueryFailedError):
        return None  # the workflow's publish activity catches the projection up later
    return next((s for s in snapshots if s.gate_id == gate.gate_id), None)


async def _send_update(workflow_id: str, update: Any, argument: object, update_id: str) -> DecideResult:
    client = await get_client()
    return await client.get_workflow_handle(workflow_id).execute_update(
        update,
        argument,
        id=update_id,
        rpc_timeout=timedelta(seconds=settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS),
    )

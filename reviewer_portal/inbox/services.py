"""Writes the portal makes on a reviewer's behalf: each action becomes a signed Temporal Update,
recorded first and delivered through reviewer_portal.inbox.delivery. Bulk decisions:
reviewer_portal.inbox.bulk_decisions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import suppress
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser

from agents.framework.contract import ANNOTATE, ASSIGN, DECIDE, PORTAL
from reviewer_portal.inbox.delivery import (
    ActionConflict,
    action_deliver,
    action_record,
    actions_deliver_together,
)
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.run_queries import RunOutOfReach, gate_catch_up

log = logging.getLogger(__name__)
Status = ActionAttempt.Status


def gate_decide(
    *,
    gate: Gate,
    reviewer: AbstractBaseUser,
    decision: str,
    reason: str,
    submission_id: str,
    revision: int,
    edits: dict[str, str] | None = None,
    origin: str = PORTAL,
) -> ActionAttempt:
    """Record the decision, then deliver it; a double submit gets the first answer back.

    `revision` says which recommendation the reviewer decided on (how many revisions came
    before it); the run refuses the decision if the agent has revised it since.

    Raises PermissionError (another reviewer's form) or ActionConflict (the form reused with other
    content, or a decision of the reviewer's on this gate is still waiting to be delivered).
    """
    attempt = action_record(
        gate=gate,
        reviewer=reviewer,
        action=DECIDE,
        submission_id=submission_id,
        origin=origin,
        decision=decision,
        reason=reason,
        edits=edits,
        revision=revision,
    )
    return action_deliver(attempt=attempt)


def gate_annotate(
    *, gate: Gate, reviewer: AbstractBaseUser, text: str, submission_id: str, origin: str = PORTAL
) -> ActionAttempt:
    """Record a note on a gate and send it as the `annotate` Update; the run keeps it in history."""
    attempt = action_record(
        gate=gate, reviewer=reviewer, action=ANNOTATE, submission_id=submission_id, origin=origin, text=text
    )
    return action_deliver(attempt=attempt)


def gate_assign(
    *,
    gate: Gate,
    reviewer: AbstractBaseUser,
    assignee: AbstractBaseUser | None,
    submission_id: str,
    origin: str = PORTAL,
    reason: str = "",
) -> ActionAttempt:
    """Claim (assignee is the reviewer), unclaim (None) or assign a gate through the `assign`
    Update; the workflow decides who may, so two reviewers claiming at once get one winner."""
    attempt = _recorded(Assignment(gate, assignee, submission_id, reason), reviewer, origin)
    attempt = action_deliver(attempt=attempt)
    if attempt.status == Status.REFUSED:
        with suppress(RunOutOfReach):  # the run's publish catches the projection up later
            gate_catch_up(gate)
    return attempt


class Assignment(NamedTuple):
    """One gate's claim, release or assignment, of several sent together."""

    gate: Gate
    assignee: AbstractBaseUser | None
    submission_id: str
    reason: str = ""


def gates_assign_together(
    *, reviewer: AbstractBaseUser, assignments: Sequence[Assignment], origin: str = PORTAL
) -> list[ActionAttempt | str]:
    """`gate_assign` for several gates, the Updates sent at once (a worker that is down costs one
    timeout, not one a gate): each gate's attempt, or why it could not be recorded (another's
    form, or one reused with other content), in the order given."""
    recorded: list[ActionAttempt | str] = []
    for assignment in assignments:
        try:
            recorded.append(_recorded(assignment, reviewer, origin))
        except (PermissionError, ActionConflict) as err:
            recorded.append(str(err))
    delivered = iter(actions_deliver_together([r for r in recorded if isinstance(r, ActionAttempt)]))
    answered = [next(delivered) if isinstance(r, ActionAttempt) else r for r in recorded]
    for assignment, attempt in zip(assignments, answered, strict=True):
        if isinstance(attempt, ActionAttempt) and attempt.status == Status.REFUSED:
            with suppress(RunOutOfReach):
                gate_catch_up(assignment.gate)
    return answered


def _recorded(assignment: Assignment, reviewer: AbstractBaseUser, origin: str) -> ActionAttempt:
    return action_record(
        gate=assignment.gate,
        reviewer=reviewer,
        action=ASSIGN,
        submission_id=assignment.submission_id,
        origin=origin,
        assignee=assignment.assignee,
        reason=assignment.reason,
    )


def assignment_message(attempt: ActionAttempt) -> str:
    """What a claim, release or assignment did, in words."""
    if attempt.assignee_id is None:
        return "Gate released: anyone in the queue may claim it."
    if attempt.assignee_id == attempt.reviewer_id:
        return "You claimed this gate."
    assignee = attempt.assignee
    assert assignee is not None  # assignee_id is set
    return f"Gate assigned to {assignee.get_username()}."

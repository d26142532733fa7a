"""A supervisor's writes on their team's queues: reassign or release several gates at once, and
mark a reviewer absent (their claims released) or back present. Each gate goes through the same
`assign` Update as the gate page (reviewer_portal.inbox.services.gate_assign): recorded first,
signed, and refused by the workflow when it must be. A request's Updates are sent at once, so a
worker that is down costs the supervisor one timeout, not one a gate."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser, User
from django.db import transaction
from django.utils import timezone

from agents.support.contract import AGENT as SUPPORT_AGENT
from agents.support.contract import REP_RELEASE
from agents.support.handoff import HANDOFF_KIND
from reviewer_portal.conversations import services as conversations
from reviewer_portal.conversations.selectors import rep_access_for
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.permissions import gate_permissions_for
from reviewer_portal.inbox.selectors import gate_assignees_for
from reviewer_portal.inbox.services import Assignment, gates_assign_together
from reviewer_portal.team.absences import absences_current
from reviewer_portal.team.models import Absence
from reviewer_portal.team.selectors import absence_candidates_for, role_members, supervised_roles_of

log = logging.getLogger(__name__)
REASSIGN, UNCLAIM = "reassign", "unclaim"


class TeamRefusal(Exception):
    """A request refused as a whole, before anything was recorded or sent."""


class TeamOutcome(NamedTuple):
    """One gate of a team action: the attempt sent, or why the portal sent nothing."""

    gate: Gate
    attempt: ActionAttempt | None
    refusal: str = ""

    @property
    def accepted(self) -> bool:
        return self.attempt is not None and self.attempt.status == ActionAttempt.Status.ACCEPTED

    @property
    def detail(self) -> str:
        return self.refusal or (self.attempt.detail if self.attempt else "")


def gates_reassign(
    *, supervisor: AbstractBaseUser, role: str, gate_ids: list[str], assignee: str, submission_id: str
) -> list[TeamOutcome]:
    """Assign each selected gate of `role` to `assignee`, a present colleague holding the role."""
    gates = _selected(supervisor, role, gate_ids)
    colleague = role_members(role=role).filter(username=assignee).first()
    if colleague is None:
        raise TeamRefusal(f"{assignee!r} is not an active reviewer with this role.")
    if absences_current().filter(user=colleague).exists():
        raise TeamRefusal(f"{colleague.get_username()} is marked absent, so cannot take gates.")
    planned: list[TeamOutcome | Assignment] = []
    for gate in gates:
        # The gate page's rule for whom a gate may go to: never its submitter (four eyes), nor
        # its current holder again, nor anyone absent.
        if not gate_assignees_for(gate=gate).filter(pk=colleague.pk).exists():
            why = f"{colleague.get_username()} cannot take this gate (its submitter, or already holds it)."
            planned.append(TeamOutcome(gate, None, why))
            continue
        planned.append(_assignment(gate, colleague, submission_id, REASSIGN))
    return _sent_together(supervisor, planned)


def gates_unclaim(
    *, supervisor: AbstractBaseUser, role: str, gate_ids: list[str], submission_id: str
) -> list[TeamOutcome]:
    """Release each selected gate of `role`, so anyone in the queue may claim it."""
    gates = _selected(supervisor, role, gate_ids)
    return _sent_together(supervisor, [_assignment(gate, None, submission_id, UNCLAIM) for gate in gates])


def absence_mark(
    *,
    user: User,
    marked_by: AbstractBaseUser,
    reason: str,
    until: datetime | None,
    submission_id: str,
) -> tuple[Absence, list[TeamOutcome]]:
    """Record that `user` is absent from now (until `until`, or until marked present), then
    release every pending gate they hold (a support conversation through its own `rep_release`).
    A release the workflow refuses is reported, and the absence stands: it already keeps them
    from being offered new gates."""
    if not absence_candidates_for(user=marked_by).filter(pk=user.pk).exists():
        raise TeamRefusal(f"{user.get_username()} is not a reviewer of a team you supervise.")
    now = timezone.now()
    if until is not None and until <= now:
        raise TeamRefusal("The end of an absence must be in the future.")
    with transaction.atomic():
        # Locks the user's row, so two supervisors marking the same absence at once record one.
        User.objects.select_for_update().filter(pk=user.pk).first()
        current = absences_current(now=now).filter(user=user).first()
        if current is not None:
            raise TeamRefusal(
                f"{user.get_username()} is already marked absent since {current.since:%Y-%m-%d %H:%M}."
            )
        absence = Absence.objects.create(
            user=user, since=now, until=until, marked_by_id=marked_by.pk, reason=reason
        )
    log.info("%s marked %s absent", marked_by.get_username(), user.get_username())
    held = Gate.objects.filter(status=Gate.Status.PENDING, assignee_id=str(user.pk)) | Gate.objects.filter(
        status=Gate.Status.PENDING, assignee_id="", assignee=user.get_username()
    )
    why = f"{user.get_username()} is absent" + (f": {reason}" if reason else "")
    planned: list[TeamOutcome | Assignment] = []
    for gate in held.order_by("deadline", "gate_id"):
        if gate.agent == SUPPORT_AGENT and gate.kind == HANDOFF_KIND:
            planned.append(_release_conversation(marked_by, gate, submission_id, why))
            continue
        if not gate_permissions_for(user=marked_by, gate=gate).supervises:
            planned.append(
                TeamOutcome(gate, None, "Your roles do not supervise this gate: it stays claimed.")
            )
            continue
        planned.append(_assignment(gate, None, submission_id, UNCLAIM, reason=why))
    return absence, _sent_together(marked_by, planned)


def _release_conversation(
    supervisor: AbstractBaseUser, gate: Gate, submission_id: str, reason: str
) -> TeamOutcome:
    """A support conversation has no `assign` Update: it is released as on its page, by a signed
    `rep_release` sent once (like a rep's reply, not recorded first for redelivery), and reported
    as the gates' releases are."""
    access = rep_access_for(user=supervisor, conversation_id=gate.workflow_id)
    if access is None or not access.may_release:
        return TeamOutcome(gate, None, "Your roles do not supervise this conversation: it stays claimed.")
    sent = conversations.conversation_rep_act(
        conversation_id=gate.workflow_id,
        rep=supervisor,
        action=REP_RELEASE,
        text=reason,
        submission_id=uuid.uuid5(uuid.UUID(submission_id), f"release:{gate.gate_id}"),
    )
    if sent.status == conversations.GONE:
        return TeamOutcome(gate, None, sent.detail)
    answered = {
        conversations.ACCEPTED: ActionAttempt.Status.ACCEPTED,
        conversations.REFUSED: ActionAttempt.Status.REFUSED,
        conversations.CLOSED: ActionAttempt.Status.REFUSED,
    }
    detail = (
        sent.detail if sent.status in answered else f"{sent.detail} Still held later? Release it on its page."
    )
    # Unsaved: nothing redelivers it; it only says how the run answered, shown as the gates' are.
    attempt = ActionAttempt(
        action=ActionAttempt.Action.ASSIGN,
        gate=gate,
        reviewer_id=supervisor.pk,
        status=answered.get(sent.status, ActionAttempt.Status.UNDELIVERED),
        detail=detail,
    )
    return TeamOutcome(gate, attempt)


def absence_end(*, absence: Absence, ended_by: AbstractBaseUser) -> Absence:
    """Mark the reviewer back present now; the absence stays on record with who ended it."""
    if not absence_candidates_for(user=ended_by).filter(pk=absence.user_id).exists():
        raise TeamRefusal("No such absence.")  # the same words as for an unknown id: ids are not probed
    now = timezone.now()
    ended = (
        absences_current(now=now)
        .filter(pk=absence.pk)
        .update(until=now, ended_at=now, ended_by_id=ended_by.pk)
    )
    if not ended:
        raise TeamRefusal(f"{absence.user.get_username()} is not marked absent any more.")
    absence.refresh_from_db()
    log.info("%s marked %s present", ended_by.get_username(), absence.user.get_username())
    return absence


def _selected(supervisor: AbstractBaseUser, role: str, gate_ids: list[str]) -> list[Gate]:
    """The posted gates, all pending gates of `role` that the supervisor may reassign; any other
    id refuses the whole request (a tampered or stale form), so nothing is sent."""
    if role not in supervised_roles_of(user=supervisor):
        raise TeamRefusal("You do not supervise that queue.")
    found = Gate.objects.in_bulk(gate_ids)
    foreign = [
        gate_id
        for gate_id in gate_ids
        if (gate := found.get(gate_id)) is None
        or gate.role != role
        or not gate_permissions_for(user=supervisor, gate=gate).assign
    ]
    if foreign:
        shown = ", ".join(repr(i) for i in foreign[:3]) + (" …" if len(foreign) > 3 else "")
        raise TeamRefusal(
            f"{len(foreign)} selected gate{'s are' if len(foreign) > 1 else ' is'} not pending in this queue "
            f"({shown}); nothing was sent. Reload the page and select again."
        )
    return [found[gate_id] for gate_id in gate_ids]


def _assignment(
    gate: Gate, assignee: User | None, submission_id: str, action: str, reason: str = ""
) -> Assignment:
    # Derived, not random: the same form sent twice reuses each gate's action id.
    gate_submission_id = str(uuid.uuid5(uuid.UUID(submission_id), f"{action}:{gate.gate_id}"))
    return Assignment(gate, assignee, gate_submission_id, reason)


def _sent_together(
    supervisor: AbstractBaseUser, planned: list[TeamOutcome | Assignment]
) -> list[TeamOutcome]:
    """Each planned assignment sent, all at once (reviewer_portal.inbox.services
    .gates_assign_together), beside the outcomes already known, in the order planned."""
    assignments = [p for p in planned if isinstance(p, Assignment)]
    sent = iter(gates_assign_together(reviewer=supervisor, assignments=assignments))
    outcomes = []
    for item in planned:
        if isinstance(item, TeamOutcome):
            outcomes.append(item)
        elif isinstance(answer := next(sent), str):
            outcomes.append(TeamOutcome(item.gate, None, answer))
        else:
            outcomes.append(TeamOutcome(item.gate, answer))
    return outcomes

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
   `actions_redeliver` (reviewer_portal.inbox.redelivery), which `manage.py deliver_decisions`
   runs every 30 s).
4. `action_withdraw` takes a queued action back. A copy Temporal already holds could still be
   applied until its signature expires, so a withdrawal is final only after that, and once the
   run confirms it never applied the action.
5. A queued action is checked again before it is sent again (reviewer_portal.inbox.resend_checks):
   the gate changed since its reviewer decided, or its assignee is absent now. The portal then
   stops sending it: refused, or held and settled as a withdrawal is while a copy could arrive.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from agents.framework.contract import DECIDE, PORTAL
from agents.framework.signing import MAX_AGE, MAX_SKEW
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.outcomes import ARRIVED, LATE, one_at_a_time_text
from reviewer_portal.inbox.projection import gate_apply_patch
from reviewer_portal.inbox.resend_checks import resend_refusal
from reviewer_portal.inbox.run_queries import RunOutOfReach, applied_actions
from reviewer_portal.inbox.seen import seen_of
from reviewer_portal.inbox.sending import (
    NO_ANSWER,
    Answer,
    Envelope,
    envelope_for,
    local_refusal,
    send,
    send_together,
)

log = logging.getLogger(__name__)
Status = ActionAttempt.Status


class ActionConflict(Exception):
    """The action cannot be recorded as asked; the message says why, in a reviewer's words."""


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
    revision: int | None = None,
    text: str = "",
    assignee: AbstractBaseUser | None = None,
    bulk: bool = False,
) -> ActionAttempt:
    """Keep a reviewer's action before it is sent; the same form again finds the same record.
    A decision keeps what its reviewer saw of `gate` (made from the inbox's bulk form: `bulk`),
    for the checks made again if it is queued (reviewer_portal.inbox.resend_checks).

    Raises PermissionError for another reviewer's form, and ActionConflict for a form reused with
    other content or a second decision while the first waits to be delivered.
    """
    content = action_content(
        decision=decision, reason=reason, edits=edits, revision=revision, text=text, assignee=assignee
    )
    seen = seen_of(gate, reviewer_id=reviewer.pk, bulk=bulk) if action == DECIDE else None
    try:
        with transaction.atomic():
            attempt, created = ActionAttempt.objects.get_or_create(
                action_id=action_id_for(action, gate, submission_id),
                defaults={
                    "gate": gate,
                    "reviewer": reviewer,
                    "action": action,
                    "origin": origin,
                    "seen": seen,
                }
                | content,
            )
    except IntegrityError as err:
        raise ActionConflict(_queued_decision_text(gate, reviewer)) from err
    if attempt.reviewer_id != reviewer.pk or attempt.gate_id != gate.gate_id:
        # A replayed form of another reviewer: never act on, or reveal, their action.
        raise PermissionError("This form belongs to someone else.")
    if not created and {k: getattr(attempt, k) for k in content} != content:
        raise ActionConflict("This form was already sent with other content; reload the page to act again.")
    return attempt


def action_id_for(action: str, gate: Gate, submission_id: str) -> str:
    """An action's id: one per form (its submission id), so the same form again finds it."""
    return f"{action}:{gate.gate_id}:{submission_id}"


def action_content(
    *,
    decision: str = "",
    reason: str = "",
    edits: dict[str, str] | None = None,
    revision: int | None = None,
    text: str = "",
    assignee: AbstractBaseUser | None = None,
) -> dict[str, Any]:
    """What an action says, as its record keeps it: the same form sent again must say the same."""
    return {
        "decision": decision,
        "reason": reason,
        "edits": edits or {},
        "revision": revision,
        "text": text,
        "assignee_id": assignee.pk if assignee is not None else None,
    }


def action_deliver(*, attempt: ActionAttempt, recheck: bool = False) -> ActionAttempt:
    """Sign and send a recorded action, and record the run's answer (or that it is queued)."""
    ready = action_prepare(attempt=attempt, recheck=recheck)
    if isinstance(ready, ActionAttempt):
        return ready
    return action_answer(attempt, send(attempt, ready))


def actions_deliver_together(attempts: Sequence[ActionAttempt]) -> list[ActionAttempt]:
    """`action_deliver` for several recorded actions (of different gates), their Updates sent at
    once; each as it stands afterwards, in the order given."""
    ready = [action_prepare(attempt=attempt) for attempt in attempts]
    sending = [(a, a.gate, e) for a, e in zip(attempts, ready, strict=True) if isinstance(e, Envelope)]
    answers = iter(send_together(sending))
    return [
        r if isinstance(r, ActionAttempt) else action_answer(a, next(answers))
        for a, r in zip(attempts, ready, strict=True)
    ]


def action_prepare(*, attempt: ActionAttempt, recheck: bool = False) -> ActionAttempt | Envelope:
    """The envelope to send the action in, its record marked as being sent; or the record as it
    stands when there is nothing to send (answered, withdrawn, or refused here). A queued action
    (or any the delivery loop sends: `recheck`) is checked again first (resend_checks)."""
    if attempt.status not in (Status.SENDING, Status.UNDELIVERED):
        return attempt
    refusal = local_refusal(attempt)
    if refusal:
        return action_answer(attempt, Answer(Status.REFUSED, refusal))
    if recheck or attempt.status == Status.UNDELIVERED:  # sent late: does what was checked still hold?
        try:
            held = resend_refusal(attempt)
        except RunOutOfReach:
            return action_answer(attempt, Answer(Status.UNDELIVERED, NO_ANSWER))
        if held:
            return _held_back(attempt, held)
    envelope = envelope_for(attempt)
    # Before anything is sent: until when a copy could still be accepted (a withdrawal waits for
    # it). Never lowered, whichever of several senders writes last.
    until = Value(envelope.signed_at + MAX_AGE + MAX_SKEW)
    claimed = ActionAttempt.objects.filter(pk=attempt.pk, status__in=[Status.SENDING, Status.UNDELIVERED])
    if not claimed.update(
        status=Status.SENDING,
        in_flight_until=Greatest(Coalesce(F("in_flight_until"), until), until),
        updated_at=timezone.now(),
    ):
        attempt.refresh_from_db()  # withdrawn or answered meanwhile
        return attempt
    return envelope


def action_withdraw(*, attempt: ActionAttempt, reviewer: AbstractBaseUser) -> ActionAttempt:
    """The reviewer takes back a queued action: it is never sent again."""
    if attempt.reviewer_id != reviewer.pk:
        raise PermissionError("Only the reviewer who made it may withdraw it.")
    queued = ActionAttempt.objects.filter(waiting(), pk=attempt.pk)
    if not queued.update(status=Status.WITHDRAWING, detail="", updated_at=timezone.now()):
        attempt.refresh_from_db()
        return attempt
    attempt.refresh_from_db()
    return action_settle_withdrawal(attempt=attempt)


def _held_back(attempt: ActionAttempt, reason: str) -> ActionAttempt:
    """The portal stops sending a queued action (`reason`, from resend_checks). Never handed to
    Temporal by any sender, it is refused now; else a copy sent before could still be applied, so
    it is held, and settled as a withdrawal is: refused, or accepted if the copy reached the run.
    Each in one conditional write: another sender may be handing it over right now."""
    sendable = ActionAttempt.objects.filter(pk=attempt.pk, status__in=[Status.SENDING, Status.UNDELIVERED])
    now = timezone.now()
    if not sendable.filter(in_flight_until__isnull=True).update(
        status=Status.REFUSED, detail=reason, updated_at=now
    ):
        sendable.update(status=Status.HELD, detail=reason, updated_at=now)
    attempt.refresh_from_db()
    log.warning("%s %s not sent again: %s %s", attempt.action, attempt.action_id, attempt.status, reason)
    return action_settle_withdrawal(attempt=attempt)


def action_settle_withdrawal(*, attempt: ActionAttempt) -> ActionAttempt:
    """Make a withdrawal (or a hold, the portal's own) final once no copy in Temporal can still be
    applied and the run confirms it never applied the action: withdrawn (a hold: refused, with its
    reason). If the run did apply it, the action was accepted after all, and says so."""
    if attempt.status not in (Status.WITHDRAWING, Status.HELD):
        return attempt
    if attempt.in_flight_until is not None:
        if timezone.now() < attempt.in_flight_until:
            return attempt
        applied = applied_actions(attempt)
        if applied is None:
            return attempt
        if attempt.action_id in applied:
            late = LATE if attempt.status == Status.WITHDRAWING else ARRIVED
            return _finish(attempt, Status.ACCEPTED, late, expect=attempt.status)
    if attempt.status == Status.HELD:
        return _finish(attempt, Status.REFUSED, attempt.detail, expect=Status.HELD)
    return _finish(attempt, Status.WITHDRAWN, "Withdrawn by its reviewer before it reached the agent.")


def action_answer(attempt: ActionAttempt, answer: Answer) -> ActionAttempt:
    """Keep the run's answer. Undelivered only replaces `sending` (a withdrawal made meanwhile
    stands); a refusal is final but for a settled withdrawal; an acceptance is the truth, and
    says so when it overtook a withdrawal."""
    if answer.status == Status.UNDELIVERED:
        _finish(attempt, answer.status, answer.detail, expect=Status.SENDING)
    elif answer.status == Status.ACCEPTED and attempt.status in (Status.WITHDRAWING, Status.WITHDRAWN):
        _finish(attempt, Status.ACCEPTED, LATE)
    else:
        _finish(attempt, answer.status, answer.detail, unless=Status.WITHDRAWN)
    if answer.change is not None:
        # Separately, and never holding the action's row: the workflow publishes it too.
        gate_apply_patch(patch=answer.change)
    if attempt.status != Status.ACCEPTED:
        log.warning("%s %s: %s %s", attempt.action, attempt.action_id, attempt.status, attempt.detail)
    return attempt


def _finish(
    attempt: ActionAttempt, status: str, detail: str, *, expect: str | None = None, unless: str | None = None
) -> ActionAttempt:
    """Set the status, never undoing an acceptance."""
    rows = ActionAttempt.objects.filter(pk=attempt.pk).exclude(status=Status.ACCEPTED)
    if expect is not None:
        rows = rows.filter(status=expect)
    if unless is not None:
        rows = rows.exclude(status=unless)
    now = timezone.now()
    if rows.update(status=status, detail=detail, updated_at=now):
        attempt.status, attempt.detail, attempt.updated_at = status, detail, now
    else:
        attempt.refresh_from_db()  # answered or withdrawn meanwhile: what the row says stands
    return attempt


def waiting() -> Q:
    """Queued, or left `sending` by a portal that died mid-send."""
    stale = timezone.now() - timedelta(seconds=2 * settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS + 5)
    return Q(status=Status.UNDELIVERED) | Q(status=Status.SENDING, updated_at__lt=stale)


def _queued_decision_text(gate: Gate, reviewer: AbstractBaseUser) -> str:
    waiting = ActionAttempt.objects.filter(
        gate=gate, reviewer=reviewer, action=DECIDE, status__in=ActionAttempt.OPEN
    ).first()
    if waiting is None:
        return "Your decision on this gate is recorded and will be sent; withdraw it first to decide differently."
    return one_at_a_time_text(waiting)


def with_people(attempts: Any) -> Any:
    return attempts.select_related("gate", "reviewer", "assignee")

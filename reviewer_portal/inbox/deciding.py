"""The decide view's fast path: what a decision needs, read in one query, and the decision recorded
already signed and claimed for sending in one INSERT, so the Update can follow at once.

The guarantee of reviewer_portal.inbox.delivery holds unchanged: the row is committed before
anything is sent, as `sending` with its envelope and `in_flight_until`, exactly what
`action_deliver` would have written before its send. A portal that dies before the answer leaves
it `sending`, and `actions_redeliver` sends the same envelope again (the run applies an action
once). Anything unusual (the same form again, a second decision racing the first, a refusal the
portal makes itself) goes the general way, `gate_decide`, which knows the answer.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import OuterRef, Subquery
from django.http import Http404
from django.utils import timezone

from agents.framework.contract import DECIDE, PORTAL
from reviewer_portal.inbox import delivery
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.selectors import gate_visible_to
from reviewer_portal.inbox.sending import Envelope, action_input, as_json, local_refusal
from reviewer_portal.inbox.services import gate_decide
from reviewer_portal.trust.signer import sign_action

Status = ActionAttempt.Status


@dataclass(frozen=True)
class RecordedDecision:
    """A decision kept in the database; `envelope` is what to send now, None if it was answered
    (or queued) by the general path already."""

    attempt: ActionAttempt
    envelope: Envelope | None


def decision_gate_for(*, user: AbstractBaseUser, gate_id: str) -> tuple[Gate, ActionAttempt | None]:
    """The gate (404 as gate_get_for) and the user's decision on it still waiting to be delivered,
    in one query (a second only when such a decision exists)."""
    waiting = ActionAttempt.objects.filter(
        gate=OuterRef("pk"), reviewer=user, action=DECIDE, status__in=ActionAttempt.OPEN
    ).order_by("-created_at")
    gate = (
        gate_visible_to(user=user)
        .filter(gate_id=gate_id)
        .annotate(waiting_pk=Subquery(waiting.values("pk")[:1]))
        .first()
    )
    if gate is None:
        raise Http404("No such gate, or you may not open it.")
    waiting_pk = getattr(gate, "waiting_pk", None)
    if waiting_pk is None:
        return gate, None
    return gate, ActionAttempt.objects.select_related("gate").filter(pk=waiting_pk).first()


def decision_record_signed(
    *,
    gate: Gate,
    reviewer: AbstractBaseUser,
    decision: str,
    reason: str,
    submission_id: str,
    revision: int,
    edits: dict[str, str],
    seen: dict[str, Any],
) -> RecordedDecision:
    """Record the decision signed for its first delivery (one INSERT), or hand it to `gate_decide`.
    `seen`: what the reviewer saw of the gate (reviewer_portal.inbox.seen.seen_of), kept with it.

    Raises PermissionError or ActionConflict as `gate_decide` does.
    """
    action_id = delivery.action_id_for(DECIDE, gate, submission_id)
    now = timezone.now()
    update_id = f"{action_id}#1"
    attempt = ActionAttempt(
        action=DECIDE,
        action_id=action_id,
        gate=gate,
        reviewer=reviewer,
        origin=PORTAL,
        **delivery.action_content(decision=decision, reason=reason, edits=edits, revision=revision),
        seen=seen,
        status=Status.SENDING,
        deliveries=1,
        update_id=update_id,
        signed_at=now,
        # The window action_deliver sets before its send (its constants, read as it reads them).
        in_flight_until=now + delivery.MAX_AGE + delivery.MAX_SKEW,
    )
    if not local_refusal(attempt):
        signed = sign_action(
            DECIDE, action_input(attempt), workflow_id=gate.workflow_id, update_id=update_id, now=now
        )
        attempt.envelope = as_json(signed)
        try:
            with _savepoint_if_in_a_transaction():
                attempt.save(force_insert=True)
        except IntegrityError:
            pass  # this form again, or a decision of theirs already waiting: gate_decide says which
        else:
            return RecordedDecision(attempt, Envelope(update_id, signed, now))
    answered = gate_decide(
        gate=gate,
        reviewer=reviewer,
        decision=decision,
        reason=reason,
        submission_id=submission_id,
        revision=revision,
        edits=edits,
    )
    return RecordedDecision(answered, None)


def _savepoint_if_in_a_transaction() -> AbstractContextManager[object]:
    """A failed INSERT in autocommit needs no transaction around it; inside one, a savepoint keeps
    the rest of it usable."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()

"""One pass of the delivery loop (`manage.py deliver_decisions`): settle the withdrawals (and the
portal's holds) whose copies in flight have expired, then send the queued actions again, several at
once.

Each queued action is delivered whole (signed, sent, its answer recorded) on one of
DELIVERY_CONCURRENCY threads, so a domain whose worker is down costs the pass one Update timeout a
round of them, not one per action, and no action is skipped for another's sake: one run that never
answers starves nothing. One gate's actions go in the order they were made, on one thread, and one
still waiting holds back the later ones: a decision queued behind its claim (a bulk decision made
while the worker was down) is never sent before the claim, which the run would need to take it. An action is signed just before its own send, never while it waits its
turn, so no signature goes stale in the queue. An action that fails unexpectedly (a key missing
from the files, a full disk) is logged and left for a later pass: the others go on.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from functools import partial
from typing import TypeVar

from django.db import DatabaseError, connections
from django.db.models import Exists, OuterRef, QuerySet

from agents.framework.contract import ASSIGN
from reviewer_portal.inbox.delivery import (
    ARRIVED,
    action_deliver,
    action_settle_withdrawal,
    waiting,
    with_people,
)
from reviewer_portal.inbox.models import ActionAttempt
from reviewer_portal.inbox.services import gate_assign
from reviewer_portal.team.absences import absence_of

log = logging.getLogger(__name__)
T = TypeVar("T")

Status = ActionAttempt.Status
# Actions delivered at once, and the gates a pass takes the actions of (the oldest; the rest wait
# for the next); of one gate a pass reads at most ROWS_PER_GATE actions on average.
DELIVERY_CONCURRENCY = 8
MAX_PER_PASS = 100
ROWS_PER_GATE = 4


def actions_redeliver() -> list[ActionAttempt]:
    """Settle the withdrawals and holds that may be settled (the oldest MAX_PER_PASS), then deliver
    every queued action again (and any a dead portal left `sending`), those of the oldest
    MAX_PER_PASS gates; each action settled or sent, as it stands afterwards (one held behind
    another of its gate is left for a later pass)."""
    open_ended = ActionAttempt.objects.filter(status__in=[Status.WITHDRAWING, Status.HELD])
    settling = list(with_people(open_ended).order_by("created_at")[:MAX_PER_PASS])
    with ThreadPoolExecutor(max_workers=DELIVERY_CONCURRENCY, thread_name_prefix="delivery") as pool:
        # At once, as sends are: each may wait on a query to a run whose worker is down.
        settled = pool.map(_settled, settling)
        handled = [done or attempt for attempt, done in zip(settling, settled, strict=True)]
        for attempt in handled:
            _isolated(_released_if_absent, attempt)
        by_gate: dict[str, list[ActionAttempt]] = {}
        for attempt in with_people(_due()).order_by("created_at", "pk")[: MAX_PER_PASS * ROWS_PER_GATE]:
            if attempt.gate_id in by_gate or len(by_gate) < MAX_PER_PASS:
                by_gate.setdefault(attempt.gate_id, []).append(attempt)
        delivered = {a.pk: a for in_turn in pool.map(_delivered_in_turn, by_gate.values()) for a in in_turn}
    due = [attempt for in_turn in by_gate.values() for attempt in in_turn]
    return handled + sorted(
        (delivered[a.pk] for a in due if a.pk in delivered), key=lambda a: (a.created_at, a.pk)
    )


def _due() -> QuerySet[ActionAttempt]:
    """The queued actions, but for one made after an action on its gate that is open and not due
    itself (being sent by another process right now, or being withdrawn): it waits its turn."""
    earlier = ActionAttempt.objects.filter(
        gate_id=OuterRef("gate_id"), created_at__lt=OuterRef("created_at"), status__in=ActionAttempt.OPEN
    ).exclude(waiting())
    return ActionAttempt.objects.filter(waiting()).exclude(Exists(earlier))


def _released_if_absent(*, attempt: ActionAttempt) -> None:
    """A claim or assignment held for an absence whose earlier copy reached the run anyway: the
    absent reviewer holds the gate, which marking them absent was to release. It is released
    now, in the name of whoever marked the absence (the run checks that they supervise it)."""
    if attempt.action != ASSIGN or attempt.status != Status.ACCEPTED or attempt.detail != ARRIVED:
        return
    away = absence_of(attempt.assignee) if attempt.assignee is not None else None
    if away is None:
        return
    gate_assign(
        gate=attempt.gate,
        reviewer=away.marked_by,
        assignee=None,
        submission_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"absent:{attempt.action_id}")),
        reason=f"{away.user.get_username()} is absent" + (f": {away.reason}" if away.reason else ""),
    )


def _settled(attempt: ActionAttempt) -> ActionAttempt | None:
    """On a delivery thread: a withdrawal or hold settled if it may be (None if that failed)."""
    try:
        return _isolated(action_settle_withdrawal, attempt)
    finally:
        connections.close_all()


def _delivered_in_turn(attempts: list[ActionAttempt]) -> list[ActionAttempt]:
    """On a delivery thread: one gate's actions delivered in turn until one is left waiting (the
    rest wait with it), then the thread's connections closed (the threads end with the pass)."""
    handled: list[ActionAttempt] = []
    try:
        for attempt in attempts:
            if handled and handled[-1].status in ActionAttempt.OPEN:
                break  # the rest wait behind an action still waiting: not sent, nor reported, this pass
            handled.append(_isolated(partial(action_deliver, recheck=True), attempt) or attempt)
        return handled
    finally:
        connections.close_all()


def _isolated(handle: Callable[..., T], attempt: ActionAttempt) -> T | None:
    """What `handle` made of the attempt, or None (logged; the attempt read again) if it failed."""
    try:
        return handle(attempt=attempt)
    except Exception:
        log.exception("Action %s failed unexpectedly; it is tried again on the next pass", attempt.action_id)
        with suppress(DatabaseError):  # the database is what failed: the attempt as it was read
            attempt.refresh_from_db()
        return None

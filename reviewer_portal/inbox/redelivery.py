"""One pass of the delivery loop (`manage.py deliver_decisions`): settle the withdrawals whose
copies in flight have expired, then send the queued actions again, several at once.

Each queued action is delivered whole (signed, sent, its answer recorded) on one of
DELIVERY_CONCURRENCY threads, so a domain whose worker is down costs the pass one Update timeout a
round of them, not one per action, and no action is skipped for another's sake: one run that never
answers starves nothing. An action is signed just before its own send, never while it waits its
turn, so no signature goes stale in the queue. An action that fails unexpectedly (a key missing
from the files, a full disk) is logged and left for a later pass: the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import TypeVar

from django.db import DatabaseError, connections

from reviewer_portal.inbox.delivery import action_deliver, action_settle_withdrawal, waiting, with_people
from reviewer_portal.inbox.models import ActionAttempt

log = logging.getLogger(__name__)
T = TypeVar("T")

Status = ActionAttempt.Status
# Actions delivered at once, and actions a pass takes (the oldest; the rest wait for the next).
DELIVERY_CONCURRENCY = 8
MAX_PER_PASS = 100


def actions_redeliver() -> list[ActionAttempt]:
    """Settle the withdrawals that may be settled, then deliver every queued action again (and any
    a dead portal left `sending`), the oldest MAX_PER_PASS of them; each as it stands afterwards."""
    withdrawing = with_people(ActionAttempt.objects.filter(status=Status.WITHDRAWING)).order_by("created_at")
    handled = [_isolated(action_settle_withdrawal, attempt) or attempt for attempt in withdrawing]
    due = list(with_people(ActionAttempt.objects.filter(waiting())).order_by("created_at")[:MAX_PER_PASS])
    with ThreadPoolExecutor(max_workers=DELIVERY_CONCURRENCY, thread_name_prefix="delivery") as pool:
        handled += pool.map(_delivered, due)
    return handled


def _delivered(attempt: ActionAttempt) -> ActionAttempt:
    """On a delivery thread: the action delivered, then the thread's connections closed (the
    threads end with the pass)."""
    try:
        return _isolated(action_deliver, attempt) or attempt
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

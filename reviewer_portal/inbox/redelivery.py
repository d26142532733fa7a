"""One pass of the delivery loop (`manage.py deliver_decisions`): settle the withdrawals whose
copies in flight have expired, then send the queued actions again, together.

The sends of a pass go out at once, at most DELIVERY_CONCURRENCY at a time, so a domain whose
worker is down costs the pass one Update timeout a wave, not one per action, and holds up no other
domain's; no action is skipped for another's sake, so one run that never answers starves nothing.
An action that fails unexpectedly (a key missing from the files, a full disk) is logged and left
for the next pass: the others go on.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from contextlib import suppress
from typing import NamedTuple, TypeVar

from django.conf import settings
from django.db import DatabaseError

from reviewer_portal.inbox.delivery import (
    action_answer,
    action_prepare,
    action_settle_withdrawal,
    waiting,
    with_people,
)
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.sending import Answer, Envelope, send_async
from reviewer_portal.temporal_client import TemporalBusy, run_on_client_loop

log = logging.getLogger(__name__)
T = TypeVar("T")

Status = ActionAttempt.Status
# Sends in flight at once, and actions a pass takes (the oldest; the rest wait for the next).
DELIVERY_CONCURRENCY = 16
MAX_PER_PASS = 100


class Sending(NamedTuple):
    attempt: ActionAttempt
    gate: Gate
    envelope: Envelope


def actions_redeliver() -> list[ActionAttempt]:
    """Settle the withdrawals that may be settled, then send every queued action again (and any a
    dead portal left `sending`), the oldest MAX_PER_PASS of them; each as it stands afterwards."""
    withdrawing = with_people(ActionAttempt.objects.filter(status=Status.WITHDRAWING)).order_by("created_at")
    handled = [_isolated(action_settle_withdrawal, attempt) or attempt for attempt in withdrawing]
    due = with_people(ActionAttempt.objects.filter(waiting())).order_by("created_at")[:MAX_PER_PASS]
    ready: list[Sending] = []
    for attempt in due:
        prepared = _isolated(action_prepare, attempt)
        if isinstance(prepared, Envelope):
            ready.append(Sending(attempt, attempt.gate, prepared))  # the gate read here, not on the loop
        else:
            handled.append(prepared or attempt)
    for (attempt, _, _), answer in zip(ready, _sent_together(ready), strict=True):
        if answer is None:  # logged: left `sending`, so a later pass sends it again
            with suppress(DatabaseError):
                attempt.refresh_from_db()
            handled.append(attempt)
            continue
        answered = _isolated(lambda attempt, answer=answer: action_answer(attempt, answer), attempt)
        handled.append(answered or attempt)
    return handled


def _sent_together(ready: list[Sending]) -> list[Answer | None]:
    """Each envelope sent as its action's Update, DELIVERY_CONCURRENCY at a time; None for one
    whose send failed unexpectedly, or every one if the pass as a whole ran out of time."""

    async def send_one(sending: Sending, slots: asyncio.Semaphore) -> Answer | None:
        attempt, gate, envelope = sending
        async with slots:
            try:
                return await send_async(attempt, gate, envelope)
            except Exception:
                log.exception(
                    "Sending action %s failed unexpectedly; it is sent again on a later pass",
                    attempt.action_id,
                )
                return None

    async def send_all() -> list[Answer | None]:
        slots = asyncio.Semaphore(DELIVERY_CONCURRENCY)
        return list(await asyncio.gather(*(send_one(sending, slots) for sending in ready)))

    if not ready:
        return []
    waves = math.ceil(len(ready) / DELIVERY_CONCURRENCY)
    try:
        return run_on_client_loop(
            send_all(), timeout=waves * (settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS + 5) + 30
        )
    except TemporalBusy:
        log.warning(
            "The pass's %d sends did not all end in time; they are sent again on a later pass", len(ready)
        )
        return [None] * len(ready)


def _isolated(handle: Callable[..., T], attempt: ActionAttempt) -> T | None:
    """What `handle` made of the attempt, or None (logged; the attempt read again) if it failed."""
    try:
        return handle(attempt=attempt)
    except Exception:
        log.exception("Action %s failed unexpectedly; it is tried again on the next pass", attempt.action_id)
        with suppress(DatabaseError):  # the database is what failed: the attempt as it was read
            attempt.refresh_from_db()
        return None

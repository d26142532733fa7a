"""Push every committed gate change to the browsers that may show the gate.

Runs in whichever process wrote the projection: the worker sidecar (on an activity's thread) or
the portal (after an Update, in a view's thread). A push is a hint that pages re-read through
their normal, authorised views, so it carries no gate content, and a failing channel layer is
logged, never raised: the projection write has already happened and must not look failed.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from concurrent import futures
from concurrent.futures import Future
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer

from reviewer_portal.inbox.models import Gate
from reviewer_portal.live.groups import groups_concerned

logger = logging.getLogger(__name__)

EVENT_TYPE = "gate.changed"
# How long a push may take before it is logged as lost.
PUSH_TIMEOUT_SECONDS = 5.0

_push_loop: asyncio.AbstractEventLoop | None = None
_push_loop_lock = threading.Lock()
_order: asyncio.Lock | None = None  # pushes go one at a time (`_in_order`)
# Pushes sent and not yet ended (sent, failed or timed out): what `wait_for_pushes` waits on.
_in_flight: set[Future[None]] = set()


def gate_changed_event(gate: Gate) -> dict[str, Any]:
    return {
        "type": EVENT_TYPE,
        "gate_id": gate.gate_id,
        "status": gate.status,
        "role": gate.role,
        "version": gate.version,
    }


def announce_gate_change(sender: type[Gate], *, gate: Gate, **kwargs: Any) -> None:
    """Receiver of `inbox.signals.gate_changed`."""
    push(groups_concerned(gate), gate_changed_event(gate), what=f"gate {gate.gate_id}")


def push(groups: list[str], event: dict[str, Any], *, what: str) -> None:
    """Send `event` to `groups` on the process's push loop, without waiting: the writer (a
    reviewer's request, a worker's activity) never waits for it, and a failure is only logged."""
    layer = get_channel_layer()
    if layer is None or not groups:
        return
    # In a context of its own: the caller's (e.g. a view's asgiref thread-sensitive executor, now
    # blocked on this push) must not be where the push's sync parts are sent to run.
    sending = asyncio.wait_for(_in_order(layer, groups, event), PUSH_TIMEOUT_SECONDS)
    future = contextvars.Context().run(asyncio.run_coroutine_threadsafe, sending, push_loop())
    _in_flight.add(future)
    future.add_done_callback(_in_flight.discard)
    future.add_done_callback(lambda done: _log_failure(done, what, groups))


def wait_for_pushes(timeout: float = PUSH_TIMEOUT_SECONDS + 1) -> bool:
    """Wait until every push sent so far has ended; True if all did within `timeout`. The test
    suite calls it as each test ends: a push still queued would otherwise be sent after that,
    into the next test's table."""
    _, pending = futures.wait(list(_in_flight), timeout)
    return not pending


def _log_failure(done: Future[None], what: str, groups: list[str]) -> None:
    if not done.cancelled() and done.exception() is not None:
        logger.warning("Live update of %s not pushed to %s", what, groups, exc_info=done.exception())


async def send_to_groups(layer: BaseChannelLayer, groups: list[str], event: dict[str, Any]) -> None:
    """Send `event` to each of `groups`, naming the group in it: a socket that has just left it
    (its roles changed) drops it (reviewer_portal.live.consumers)."""
    for group in groups:
        await layer.group_send(group, {**event, "group": group})


async def _in_order(layer: BaseChannelLayer, groups: list[str], event: dict[str, Any]) -> None:
    """On the push loop: `send_to_groups`, one push at a time, in the order they were made. Sent
    side by side, a gate's push could overtake the access change made just before it (a role taken
    away), and reach a socket that had not yet left the role's group. A push's timeout counts its
    wait."""
    global _order
    if _order is None:
        _order = asyncio.Lock()  # first used on the push loop, which lives as long as the process
    async with _order:
        await send_to_groups(layer, groups, event)


def push_loop() -> asyncio.AbstractEventLoop:
    """The process's push loop: one event loop on a daemon thread, for the life of the process.

    async_to_sync on a thread without a loop (the worker's activity threads) would make a loop,
    and with it a Redis connection pool, per push, leaving each pool to the garbage collector,
    which may then run it on a workflow thread inside Temporal's sandbox.
    """
    global _push_loop
    with _push_loop_lock:
        if _push_loop is None:
            _push_loop = asyncio.new_event_loop()
            threading.Thread(target=_push_loop.run_forever, name="live-push", daemon=True).start()
        return _push_loop

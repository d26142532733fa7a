"""Heartbeats for long activities, so a crashed worker is noticed in seconds, not at the timeout.

An activity with a heartbeat timeout that stops heartbeating is retried elsewhere once that
timeout passes; without one, Temporal waits for the whole start-to-close timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from temporalio import activity

HEARTBEAT_EVERY_SECONDS = 2.0


@contextlib.asynccontextmanager
async def heartbeating(every: float = HEARTBEAT_EVERY_SECONDS) -> AsyncIterator[None]:
    """Heartbeat in the background while the body runs (async activities only; outside an
    activity, e.g. when a test calls the function directly, it does nothing)."""
    if not activity.in_activity():
        yield
        return

    async def beat() -> None:
        while True:
            # A wait first: a call done within `every` never heartbeats. Its first heartbeat, sent
            # at once, cost a round trip to the server for every model call and tool (about 5 ms
            # of worker and 7 ms of server CPU per loan run); the heartbeat timeout (10-15 s) is
            # counted from the start until then.
            await asyncio.sleep(every)
            activity.heartbeat()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

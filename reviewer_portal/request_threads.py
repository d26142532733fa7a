"""The threads the portal's HTTP requests run their sync code on, each keeping its database
connections between requests.

Django's ASGI handler gives every request a thread of its own, made for it and ended after it,
with a database connection opened and closed each time (persistent connections cannot outlive a
thread, so Django's advice under ASGI is to turn them off). On this portal that was about a third
of the CPU an inbox poll cost: the thread, the connection, and SQLite reading the schema afresh on
every new connection.

Here a request borrows one of a few long-lived threads instead (reviewer_portal.http_handler).
All of its thread-sensitive work runs there, in order, as it would on a thread of its own: the
request's started and finished signals, the middleware and the view, Django's closing of the
reply. Each of these threads keeps its connections for `KEEP_CONNECTION_SECONDS`, checked at the
start of every request (CONN_HEALTH_CHECKS), and closed by Django's request-finished signal when
they are broken, in a transaction left open, or too old; connections made anywhere else keep the
configured CONN_MAX_AGE. A request that finds every thread busy for `WAIT_SECONDS` (a burst, or
threads held by Temporal calls during an outage) gets a thread of its own as before, so a few slow
requests never hold up the rest.
"""

from __future__ import annotations

import asyncio
from collections import ChainMap
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, cast

from django.db import connections
from django.db.utils import load_backend

KEEP_CONNECTION_SECONDS = 300
# Longer than a busy process keeps a request waiting for a thread (the figures in the README), far
# shorter than a Temporal call held by an outage (TEMPORAL_UPDATE_TIMEOUT_SECONDS).
WAIT_SECONDS = 1.0


class RequestThreads:
    """`size` single-thread executors, lent to one request at a time."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._threads = [
            ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="portal-request", initializer=_keep_connections
            )
            for _ in range(size)
        ]
        self._idle: asyncio.Queue[ThreadPoolExecutor] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @asynccontextmanager
    async def lend(self) -> AsyncIterator[Executor | None]:
        """One idle thread for the block, or None when none came free within WAIT_SECONDS."""
        idle = self._idle_threads()
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                thread = await idle.get()
        except TimeoutError:
            yield None
            return
        try:
            yield thread
        finally:
            idle.put_nowait(thread)

    def close(self) -> None:
        """Close every thread's connections, then end the threads (tests, an orderly stop)."""
        for thread in self._threads:
            thread.submit(connections.close_all).result()
            thread.shutdown()

    def _idle_threads(self) -> asyncio.Queue[ThreadPoolExecutor]:
        # Made on the serving loop: an asyncio.Queue belongs to the loop it is first used on, and a
        # test may serve the same handler from more than one loop in turn.
        loop = asyncio.get_running_loop()
        if self._idle is None or self._loop is not loop:
            self._idle, self._loop = asyncio.Queue(), loop
            for thread in self._threads:
                self._idle.put_nowait(thread)
        return self._idle


def _keep_connections() -> None:
    """Run first on each request thread: its connections are kept between requests.

    The thread's connection objects read the configured settings through an overlay (a test run's
    database name, set later, still reaches them) that only says how long to keep a connection and
    to check it before use."""
    overlay = {"CONN_MAX_AGE": KEEP_CONNECTION_SECONDS, "CONN_HEALTH_CHECKS": True}
    for alias in connections:
        configured = connections.settings[alias]
        backend = load_backend(configured["ENGINE"])
        connections[alias] = backend.DatabaseWrapper(
            cast(dict[str, Any], ChainMap(overlay, configured)), alias
        )

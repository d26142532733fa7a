"""The threads the portal's HTTP requests run their sync code on, each keeping its database
connections between requests.

Django's ASGI handler gives every request a thread of its own, made for it and ended after it,
with a database connection opened and closed each time (persistent connections cannot outlive a
thread, so Django's advice under ASGI is to turn them off). On this portal that was about a third
of the CPU an inbox poll cost: the thread, the connection, and SQLite reading the schema afresh on
every new connection.

Here a request to a sync view borrows one of a few long-lived threads instead, once its body has
arrived (reviewer_portal.http_handler). All of its thread-sensitive work runs there, in order, as
it would on a thread of its own: the request's started and finished signals, the middleware and
the view, Django's closing of the reply. Each thread keeps its connections for
`KEEP_CONNECTION_SECONDS`, checks them at the start of every request (CONN_HEALTH_CHECKS) and
closes them, through Django's request-finished signal, when they are broken, in a transaction left
open, or too old, and after `IDLE_SECONDS` without a request. Connections made anywhere else keep
the configured CONN_MAX_AGE.

A thread goes back to be lent again only once it has finished what the request gave it (a server
may give up on a request whose view still runs). A request waits its turn while threads keep
coming back (a burst of requests that use the CPU: more threads would only share it, each with a
new connection). It gets a thread of its own, as Django gives, once no thread has come back for
`WAIT_SECONDS` (every thread held by a slow Temporal or a locked database), or once it has waited
`MAX_WAIT_SECONDS` in all while some thread has been lent that long (some held, the rest too few
for the load), so held threads never hold up the rest by more than that. With no thread held, the
line is the CPU's: a thread of its own would only add a connection's work to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import ChainMap
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from typing import Any, cast

from django.db import connections
from django.db.utils import load_backend

log = logging.getLogger(__name__)

KEEP_CONNECTION_SECONDS = 300
IDLE_SECONDS = 60
# No thread back for this long: they are held, not busy. Far longer than a request takes (a few
# milliseconds; an inbox page under load, tens), far shorter than a Temporal call an outage holds
# (TEMPORAL_UPDATE_TIMEOUT_SECONDS).
WAIT_SECONDS = 0.1
# The longest a request waits in line while a thread is held (lent this long or more), however the
# line moves: above the p95 of a poll at 50 reviewers a process (benchmarks/portal_load.py, about
# 0.2 s), where waiting beats a new thread.
MAX_WAIT_SECONDS = 0.5
# Requests served on threads of their own are logged, the first at once and then their count at
# most this often: the operator's sign that threads are held, or that PORTAL_REQUEST_THREADS is
# small for the load.
REPORT_SECONDS = 60


class RequestThreads:
    """`size` single-thread executors, lent to one request at a time, the last returned first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._threads = [
            ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"portal-request-{n}", initializer=_keep_connections
            )
            for n in range(size)
        ]
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[ThreadPoolExecutor] = []
        self._free: asyncio.Semaphore | None = None
        self._idle_timers: dict[ThreadPoolExecutor, asyncio.TimerHandle] = {}
        self._unlent = 0
        self._report: asyncio.TimerHandle | None = None
        self._came_back = 0.0  # when a thread last came back to be lent, on the loop's clock
        self._lent_at: dict[ThreadPoolExecutor, float] = {}  # the threads out, since when

    @asynccontextmanager
    async def lend(self) -> AsyncIterator[ThreadPoolExecutor | None]:
        """A thread for the block, or None when none came back for WAIT_SECONDS meanwhile."""
        free = self._free_threads()
        if not await self._turn(free):
            self._count_unlent()
            yield None
            return
        if self._closed:
            free.release()
            yield None
            return
        thread = self._idle.pop()
        if (idle_timer := self._idle_timers.pop(thread, None)) is not None:
            idle_timer.cancel()
        self._lent_at[thread] = asyncio.get_running_loop().time()
        try:
            yield thread
        finally:
            # Back once the thread has done all it was given: a request the server gave up on
            # may have left its view running there.
            loop = asyncio.get_running_loop()
            with suppress(RuntimeError):  # closed meanwhile: nothing to give back to
                thread.submit(int).add_done_callback(lambda _: self._give_back_from_thread(loop, thread))

    async def _turn(self, free: asyncio.Semaphore) -> bool:
        """Wait in line for a thread (True); False, out of the line, once no thread has come back
        for WAIT_SECONDS since it joined, or once it has waited MAX_WAIT_SECONDS while a thread is
        held. The wait wakes at least every WAIT_SECONDS to look again."""
        if not free.locked():
            return await free.acquire()  # a thread is idle and nobody waits: at once
        loop = asyncio.get_running_loop()
        joined = loop.time()
        acquiring = asyncio.ensure_future(free.acquire())
        try:
            while not acquiring.done():
                due = max(self._came_back, joined) + WAIT_SECONDS
                if self._some_held(loop.time()):
                    due = min(due, joined + MAX_WAIT_SECONDS)
                if loop.time() < due:
                    await asyncio.wait({acquiring}, timeout=due - loop.time())
                    continue
                await asyncio.sleep(0)  # a place handed on in this very step is taken up first
                if not acquiring.done():
                    _leave_line(free, acquiring)
                    return False
        except asyncio.CancelledError:  # the request went away while it waited
            _leave_line(free, acquiring)
            raise
        return True

    def _some_held(self, now: float) -> bool:
        """Whether a thread has been lent for MAX_WAIT_SECONDS or more (a request that long is
        waiting on something, not using the CPU)."""
        return any(now - since >= MAX_WAIT_SECONDS for since in self._lent_at.values())

    def close(self) -> None:
        """Close every thread's connections and end the threads; requests then get threads of
        their own (tests, an orderly stop)."""
        self._closed = True
        for thread in self._threads:
            with suppress(RuntimeError):  # already shut down
                thread.submit(connections.close_all).result()
            thread.shutdown()

    def _count_unlent(self) -> None:
        """Counted, and reported at once, then every REPORT_SECONDS while there are more."""
        self._unlent += 1
        if self._report is None:
            self._report_unlent()

    def _report_unlent(self) -> None:
        if not self._unlent:
            self._report = None
            return
        assert self._loop is not None  # counted only once a request has met the threads
        log.warning(
            "%d request(s) found all %d request threads busy for %.1f s and got threads of their own"
            " (PORTAL_REQUEST_THREADS)",
            self._unlent,
            self.size,
            WAIT_SECONDS,
        )
        self._unlent = 0
        self._report = self._loop.call_later(REPORT_SECONDS, self._report_unlent)

    def _give_back_from_thread(self, loop: asyncio.AbstractEventLoop, thread: ThreadPoolExecutor) -> None:
        with suppress(RuntimeError):  # the loop has closed (a test's)
            loop.call_soon_threadsafe(self._give_back, loop, thread)

    def _give_back(self, loop: asyncio.AbstractEventLoop, thread: ThreadPoolExecutor) -> None:
        if loop is not self._loop or self._free is None:
            return  # lent on a loop the threads have since left (tests)
        self._idle.append(thread)
        self._lent_at.pop(thread, None)
        self._came_back = loop.time()
        self._free.release()
        self._idle_timers[thread] = loop.call_later(IDLE_SECONDS, self._close_idle, thread)

    def _close_idle(self, thread: ThreadPoolExecutor) -> None:
        self._idle_timers.pop(thread, None)
        if thread in self._idle and not self._closed:
            thread.submit(connections.close_all).add_done_callback(_log_failure)

    def _free_threads(self) -> asyncio.Semaphore:
        # Made on the serving loop: asyncio's primitives belong to the loop they are first used on,
        # and tests serve the same handler from one loop after another.
        loop = asyncio.get_running_loop()
        if self._free is None or self._loop is not loop:
            self._loop = loop
            self._idle = list(self._threads)
            self._free = asyncio.Semaphore(len(self._idle))
            self._idle_timers, self._report, self._lent_at = {}, None, {}
            self._came_back = loop.time()
        return self._free


def _leave_line(free: asyncio.Semaphore, acquiring: asyncio.Future[bool]) -> None:
    """Give up a place in line: a thread already taken goes back; one given but not yet taken up
    the semaphore passes on to the next in line as the wait is cancelled."""
    if acquiring.done() and not acquiring.cancelled():
        free.release()
    else:
        acquiring.cancel()


def _log_failure(done: Future[Any]) -> None:
    if (error := done.exception()) is not None:
        log.warning("Closing an idle request thread's connections failed: %s", error)


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

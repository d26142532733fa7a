"""The threads the portal's HTTP requests run their sync code on, each keeping its database
connections between requests, and how many of them run at once.

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

At most `running` of the lent threads (PORTAL_RUNNING_REQUESTS, 1) run a request at once; the
rest of the requests wait in line, first come first served. Python runs one thread at a time, and
requests that used the CPU side by side each cost more of it than one after another: one process
at 50 reviewers spent 3.3 ms of CPU per unchanged poll with 8 at once, 2.1 ms with one
(benchmarks/portal_load.py). A thread that waits on something else gives its place up so the CPU
is not left idle: at once when it says so (`step_aside`, before a wait on Temporal, and when its
reply is ready to send), and otherwise once it has been lent `RUNNING_SECONDS` (a slow query, a
lock); it then finishes beside the next. A request that has waited `MAX_WAIT_SECONDS` while a
thread is idle runs beside the others (requests each holding their thread a while without saying
so), so the line is bounded, and the operator is told.

A thread goes back to be lent again only once it has finished what the request gave it (a server
may give up on a request whose view still runs). A request gets a thread of its own, as Django
gives, only when every thread is lent and none has come back for `WAIT_SECONDS` since it joined the
line (all of them held, by a slow Temporal or a locked database).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import ChainMap, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from typing import Any, ParamSpec, TypeVar, cast

from asgiref.sync import async_to_sync
from django.db import connections
from django.db.utils import load_backend

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

KEEP_CONNECTION_SECONDS = 300
IDLE_SECONDS = 60
# A thread lent this long is taken to be waiting, not running: the next in line may run beside it.
# Longer than most requests' own CPU (an unchanged poll 2 ms, the inbox page 5), short enough that
# requests waiting on a slow database still start 50 a second.
RUNNING_SECONDS = 0.02
# The longest a request waits in line while a thread is idle; then it runs beside the others.
# Above the waits' p95 at 50 reviewers a process (benchmarks/portal_load.py, about 0.15 s).
MAX_WAIT_SECONDS = 0.5
# Every thread lent and none back for this long: they are held, not busy. Far longer than a
# request takes, far shorter than a Temporal call an outage holds (TEMPORAL_UPDATE_TIMEOUT_SECONDS).
WAIT_SECONDS = 0.1
# Requests served on threads of their own, or beside the others after MAX_WAIT_SECONDS, are
# logged, the first at once and then their count at most this often: the operator's sign that
# threads are held, or that PORTAL_REQUEST_THREADS (PORTAL_RUNNING_REQUESTS) is small for the load.
REPORT_SECONDS = 60

# On each request thread: the RequestThreads it belongs to, and its place among them.
_here = threading.local()


class RequestThreads:
    """`size` single-thread executors, lent to one request at a time (the last returned first), at
    most `running` of them taken to be running."""

    def __init__(self, size: int, running: int = 1) -> None:
        self.size, self.running = size, max(1, running)
        self._threads = [
            ThreadPoolExecutor(
                max_workers=1,
                thread_name_prefix=f"portal-request-{n}",
                initializer=self._thread_started,
                initargs=(n,),
            )
            for n in range(size)
        ]
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[ThreadPoolExecutor] = []
        self._line: deque[asyncio.Future[ThreadPoolExecutor]] = deque()
        self._running: dict[ThreadPoolExecutor, asyncio.TimerHandle] = {}  # each with its timer
        self._idle_timers: dict[ThreadPoolExecutor, asyncio.TimerHandle] = {}
        self._unlent = self._beside = 0
        self._report: asyncio.TimerHandle | None = None
        self._came_back = 0.0  # when a thread last came back to be lent, on the loop's clock

    @asynccontextmanager
    async def lend(self) -> AsyncIterator[ThreadPoolExecutor | None]:
        """A thread for the block, or None when every thread was held meanwhile."""
        thread = None if self._closed else await self._turn()
        if thread is not None and self._closed:
            self._give_back(asyncio.get_running_loop(), thread)
            thread = None
        if thread is None:
            if not self._closed:
                self._count("_unlent")
            yield None
            return
        try:
            yield thread
        finally:
            # Back once the thread has done all it was given: a request the server gave up on
            # may have left its view running there.
            loop = asyncio.get_running_loop()
            with suppress(RuntimeError):  # closed meanwhile: nothing to give back to
                thread.submit(int).add_done_callback(lambda _: self._give_back_from_thread(loop, thread))

    async def _turn(self) -> ThreadPoolExecutor | None:
        """Wait in line for a thread that may run. Out of the line: with an idle thread to run
        beside the others, once it has waited MAX_WAIT_SECONDS; with None, once every thread is
        lent and none has come back for WAIT_SECONDS since it joined."""
        loop = self._serving_loop()
        if not self._line and self._may_lend():
            return self._take()  # nobody waits and a thread may run: at once
        joined = loop.time()
        waiter: asyncio.Future[ThreadPoolExecutor] = loop.create_future()
        self._line.append(waiter)
        try:
            while not waiter.done():
                now, due = loop.time(), max(self._came_back, joined) + WAIT_SECONDS
                if self._idle and now >= joined + MAX_WAIT_SECONDS:
                    self._line.remove(waiter)
                    self._count("_beside")
                    return self._take()
                if not self._idle and now >= due:
                    self._line.remove(waiter)
                    return None
                wake = joined + MAX_WAIT_SECONDS if self._idle else due
                await asyncio.wait({waiter}, timeout=wake - now)
        except BaseException:  # the request went away while it waited (cancelled, or ended)
            if waiter.done() and not waiter.cancelled():
                self._give_back(loop, waiter.result())  # taken for it, never used
            else:
                waiter.cancel()
                with suppress(ValueError):  # already out of the line
                    self._line.remove(waiter)
            raise
        return waiter.result()

    def step_aside_from_thread(self, index: int) -> None:
        """The request thread `index` is about to wait on something else: the next may run."""
        with suppress(RuntimeError):  # no loop, or closed: nobody waits
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._step_aside, self._threads[index])

    def close(self) -> None:
        """Close every thread's connections and end the threads; requests then get threads of
        their own (tests, an orderly stop)."""
        self._closed = True
        for thread in self._threads:
            with suppress(RuntimeError):  # already shut down
                thread.submit(connections.close_all).result()
            thread.shutdown()

    def _may_lend(self) -> bool:
        return bool(self._idle) and len(self._running) < self.running

    def _take(self) -> ThreadPoolExecutor:
        assert self._loop is not None
        thread = self._idle.pop()
        if (idle_timer := self._idle_timers.pop(thread, None)) is not None:
            idle_timer.cancel()
        self._running[thread] = self._loop.call_later(RUNNING_SECONDS, self._step_aside, thread)
        return thread

    def _lend_next(self) -> None:
        """Hand threads to the line, first come first served, while they may run."""
        while self._line and self._may_lend():
            if not (waiter := self._line.popleft()).done():
                waiter.set_result(self._take())

    def _step_aside(self, thread: ThreadPoolExecutor) -> None:
        if (timer := self._running.pop(thread, None)) is not None:
            timer.cancel()
            self._lend_next()

    def _thread_started(self, index: int) -> None:
        """Run first on each request thread."""
        _here.threads, _here.index = self, index
        _keep_connections()

    def _count(self, counter: str) -> None:
        """Counted (`_unlent` or `_beside`), and reported at once, then every REPORT_SECONDS while
        there are more."""
        setattr(self, counter, getattr(self, counter) + 1)
        if self._report is None:
            self._report_counts()

    def _report_counts(self) -> None:
        if not (self._unlent or self._beside):
            self._report = None
            return
        assert self._loop is not None  # counted only once a request has met the threads
        if self._unlent:
            log.warning(
                "%d request(s) found all %d request threads busy for %.1f s and got threads of their"
                " own (PORTAL_REQUEST_THREADS)",
                self._unlent,
                self.size,
                WAIT_SECONDS,
            )
        if self._beside:
            log.warning(
                "%d request(s) waited %.1f s in line and ran beside the %d running (PORTAL_RUNNING_REQUESTS)",
                self._beside,
                MAX_WAIT_SECONDS,
                self.running,
            )
        self._unlent = self._beside = 0
        self._report = self._loop.call_later(REPORT_SECONDS, self._report_counts)

    def _give_back_from_thread(self, loop: asyncio.AbstractEventLoop, thread: ThreadPoolExecutor) -> None:
        with suppress(RuntimeError):  # the loop has closed (a test's)
            loop.call_soon_threadsafe(self._give_back, loop, thread)

    def _give_back(self, loop: asyncio.AbstractEventLoop, thread: ThreadPoolExecutor) -> None:
        if loop is not self._loop:
            return  # lent on a loop the threads have since left (tests)
        if (timer := self._running.pop(thread, None)) is not None:
            timer.cancel()
        self._idle.append(thread)
        self._came_back = loop.time()
        self._idle_timers[thread] = loop.call_later(IDLE_SECONDS, self._close_idle, thread)
        self._lend_next()

    def _close_idle(self, thread: ThreadPoolExecutor) -> None:
        self._idle_timers.pop(thread, None)
        if thread in self._idle and not self._closed:
            thread.submit(connections.close_all).add_done_callback(_log_failure)

    def _serving_loop(self) -> asyncio.AbstractEventLoop:
        # The state belongs to the loop serving the requests: tests serve the same handler from
        # one loop after another.
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._idle = list(self._threads)
            self._line, self._running = deque(), {}
            self._idle_timers, self._report = {}, None
            self._came_back = loop.time()
        return loop


def step_aside() -> None:
    """Called on a request thread before it waits on something outside this process (Temporal):
    the next request in line may run meanwhile. Anywhere else it does nothing."""
    threads: RequestThreads | None = getattr(_here, "threads", None)
    if threads is not None:
        threads.step_aside_from_thread(_here.index)


def async_to_sync_aside(function: Callable[P, Awaitable[T]]) -> Callable[P, T]:
    """`async_to_sync(function)` for a call that waits on Temporal, stepping aside first."""
    waited = async_to_sync(function)

    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        step_aside()
        return waited(*args, **kwargs)

    return call


def _log_failure(done: Future[Any]) -> None:
    if (error := done.exception()) is not None:
        log.warning("Closing an idle request thread's connections failed: %s", error)


def _keep_connections() -> None:
    """The thread's connections are kept between requests.

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

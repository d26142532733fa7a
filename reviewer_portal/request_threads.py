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
the view, Django's closing of the reply. Each thread keeps its connections
(reviewer_portal.request_connections), checks them at the start of every request and closes them,
through Django's request-finished signal, when they are broken, in a transaction left open, or
too old, and after `IDLE_SECONDS` without a request. Connections made anywhere else keep
the configured CONN_MAX_AGE.

At most `running` of the lent threads (PORTAL_RUNNING_REQUESTS, 1) run a request at once; the
rest of the requests wait in line, first come first served. Python runs one thread at a time, and
requests that used the CPU side by side each cost more of it than one after another: one process
at 50 reviewers spent 3.3 ms of CPU per unchanged poll with 8 at once, 2.1 ms with one
(benchmarks/portal_load.py). A thread that waits on something else gives its place up so the CPU
is not left idle: at once when it says so (`step_aside`, before a wait on Temporal), and otherwise
once it has been lent `RUNNING_SECONDS` (a slow query, a lock, a long request); it then finishes
beside the next, uncounted. Requests that each hold their thread longer than that without saying
so (a far database) thus start at most one per RUNNING_SECONDS per running place: raise
PORTAL_RUNNING_REQUESTS for them.

A thread goes back to be lent again only once it has finished what the request gave it (a server
may give up on a request whose view still runs). A request gets a thread of its own, as Django
gives, only when every thread is lent: once none has come back for `WAIT_SECONDS` since it joined
the line (all of them held, by a slow Temporal or a locked database), or once it has waited
`MAX_WAIT_SECONDS` while a thread has been lent that long (some held, the rest too few for the
load). The operator is told.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from asgiref.sync import async_to_sync
from django.db import connections

from reviewer_portal.request_connections import keep_connections, log_close_failure
from reviewer_portal.request_thread_reports import UnlentReport

P = ParamSpec("P")
T = TypeVar("T")

IDLE_SECONDS = 60
# A thread lent this long is taken to be waiting, not running: the next in line may run beside it.
# Longer than a request's own CPU (an unchanged poll 2 ms, the inbox page 5); a version that read
# each thread's CPU clock every 20 ms measured 10-20 % slower on two processes.
RUNNING_SECONDS = 0.05
# With every thread lent, the longest a request waits while one has been lent this long (held).
# Above the waits' p95 at 50 reviewers a process (benchmarks/portal_load.py, about 0.15 s).
MAX_WAIT_SECONDS = 0.5
# Every thread lent and none back for this long: they are held, not busy. Far longer than a
# request takes, far shorter than a Temporal call an outage holds (TEMPORAL_UPDATE_TIMEOUT_SECONDS).
WAIT_SECONDS = 0.1

# On each request thread: the RequestThreads it belongs to, and its place among them.
_here = threading.local()
# In a request's task, on the serving loop: the threads and the one lent to it (an async view).
_lent: ContextVar[tuple[RequestThreads, ThreadPoolExecutor] | None] = ContextVar("lent", default=None)


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
        self._lent_at: dict[ThreadPoolExecutor, float] = {}
        self._idle_timers: dict[ThreadPoolExecutor, asyncio.TimerHandle] = {}
        self._report = UnlentReport(self.size, WAIT_SECONDS)
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
                self._report.count(asyncio.get_running_loop())
            yield None
            return
        lent = _lent.set((self, thread))
        try:
            yield thread
        finally:
            _lent.reset(lent)
            # Back once the thread has done all it was given: a request the server gave up on
            # may have left its view running there.
            loop = asyncio.get_running_loop()
            with suppress(RuntimeError):  # closed meanwhile: nothing to give back to
                thread.submit(int).add_done_callback(lambda _: self._give_back_from_thread(loop, thread))

    async def _turn(self) -> ThreadPoolExecutor | None:
        """Wait in line for a thread that may run; None, out of the line, once every thread is lent
        and none has come back for WAIT_SECONDS since it joined, or it has waited MAX_WAIT_SECONDS
        while one has been lent that long. It looks again at least every WAIT_SECONDS."""
        loop = self._serving_loop()
        if not self._line and self._may_lend():
            return self._take()  # nobody waits and a thread may run: at once
        joined = loop.time()
        waiter: asyncio.Future[ThreadPoolExecutor] = loop.create_future()
        self._line.append(waiter)
        try:
            while not waiter.done():
                now, due = loop.time(), max(self._came_back, joined) + WAIT_SECONDS
                if not self._idle and (now >= due or (now >= joined + MAX_WAIT_SECONDS and self._held(now))):
                    self._line.remove(waiter)
                    return None
                await asyncio.wait({waiter}, timeout=due - now if due > now else WAIT_SECONDS)
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

    def _held(self, now: float) -> bool:
        """Whether a thread has been lent MAX_WAIT_SECONDS or more (it waits on something)."""
        return any(now - since >= MAX_WAIT_SECONDS for since in self._lent_at.values())

    def _take(self) -> ThreadPoolExecutor:
        assert self._loop is not None
        thread = self._idle.pop()
        if (idle_timer := self._idle_timers.pop(thread, None)) is not None:
            idle_timer.cancel()
        self._lent_at[thread] = self._loop.time()
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
        keep_connections()

    def _give_back_from_thread(self, loop: asyncio.AbstractEventLoop, thread: ThreadPoolExecutor) -> None:
        with suppress(RuntimeError):  # the loop has closed (a test's)
            loop.call_soon_threadsafe(self._give_back, loop, thread)

    def _give_back(self, loop: asyncio.AbstractEventLoop, thread: ThreadPoolExecutor) -> None:
        if loop is not self._loop:
            return  # lent on a loop the threads have since left (tests)
        if (timer := self._running.pop(thread, None)) is not None:
            timer.cancel()
        self._lent_at.pop(thread, None)
        self._idle.append(thread)
        self._came_back = loop.time()
        self._idle_timers[thread] = loop.call_later(IDLE_SECONDS, self._close_idle, thread)
        self._lend_next()

    def _close_idle(self, thread: ThreadPoolExecutor) -> None:
        self._idle_timers.pop(thread, None)
        if thread in self._idle and not self._closed:
            thread.submit(connections.close_all).add_done_callback(log_close_failure)

    def _serving_loop(self) -> asyncio.AbstractEventLoop:
        # The state belongs to the loop serving the requests: tests serve the same handler from
        # one loop after another.
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._idle = list(self._threads)
            self._line, self._running, self._lent_at = deque(), {}, {}
            self._idle_timers, self._report = {}, UnlentReport(self.size, WAIT_SECONDS)
            self._came_back = loop.time()
        return loop


def step_aside() -> None:
    """Called before a request waits on something outside this process (Temporal), on its request
    thread or, in an async view, on the serving loop: the next request in line may run meanwhile.
    Anywhere else it does nothing."""
    threads: RequestThreads | None = getattr(_here, "threads", None)
    if threads is not None:
        threads.step_aside_from_thread(_here.index)
    elif (lent := _lent.get()) is not None:
        threads, thread = lent
        with suppress(RuntimeError):  # not on a loop: nothing to do
            if asyncio.get_running_loop() is threads._loop:
                threads._step_aside(thread)


def async_to_sync_aside(function: Callable[P, Awaitable[T]]) -> Callable[P, T]:
    """`async_to_sync(function)` for a call that waits on Temporal, stepping aside first."""
    waited = async_to_sync(function)

    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        step_aside()
        return waited(*args, **kwargs)

    return call

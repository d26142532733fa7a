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
`KEEP_CONNECTION_SECONDS` (reviewer_portal.request_connections), checks them at the start of every request (CONN_HEALTH_CHECKS) and
closes them, through Django's request-finished signal, when they are broken, in a transaction left
open, or too old, and after `IDLE_SECONDS` without a request. Connections made anywhere else keep
the configured CONN_MAX_AGE.

At most `running` of the lent threads (PORTAL_RUNNING_REQUESTS, 1) run a request at once; the
rest of the requests wait in line, first come first served. Python runs one thread at a time, and
requests that used the CPU side by side each cost more of it than one after another: one process
at 50 reviewers spent 3.3 ms of CPU per unchanged poll with 8 at once, 2.1 ms with one
(benchmarks/portal_load.py). A thread that waits on something else gives its place up so the CPU
is not left idle: at once when it says so (`step_aside`, before a wait on Temporal, and when its
reply is ready to send), and otherwise once it is seen waiting: every `RUNNING_SECONDS` the loop
reads each running thread's CPU clock, and one that used less than a quarter of that time is
waiting on something (a slow query, a lock). It then finishes beside the next, uncounted. A thread
still using the CPU keeps its place. A request that has waited `MAX_WAIT_SECONDS` while some thread
has been lent that long (a long request, or one held) runs beside the others, on an idle thread
or, with none idle, on a thread of its own, and the operator is told.

A thread goes back to be lent again only once it has finished what the request gave it (a server
may give up on a request whose view still runs). A request also gets a thread of its own, as Django
gives, when every thread is lent and none has come back for `WAIT_SECONDS` since it joined the line
(all of them held, by a slow Temporal or a locked database).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from typing import ParamSpec, TypeVar

from asgiref.sync import async_to_sync
from django.db import connections

from reviewer_portal.request_connections import keep_connections, log_close_failure
from reviewer_portal.request_thread_reports import BESIDE, UNLENT, LineReport

P = ParamSpec("P")
T = TypeVar("T")

IDLE_SECONDS = 60
# How often the loop looks at whether a running thread still uses the CPU. Longer than most
# requests (an unchanged poll 2 ms, the inbox page 5), short enough that requests each waiting on
# a slow database still start 50 a second.
RUNNING_SECONDS = 0.02
# The longest a request waits in line behind a thread lent that long; then it runs beside it.
# Above the waits' p95 at 50 reviewers a process (benchmarks/portal_load.py, about 0.15 s).
MAX_WAIT_SECONDS = 0.5
# Every thread lent and none back for this long: they are held, not busy. Far longer than a
# request takes, far shorter than a Temporal call an outage holds (TEMPORAL_UPDATE_TIMEOUT_SECONDS).
WAIT_SECONDS = 0.1

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
        # The threads running, each with its next look and (time, CPU clock) when last seen.
        self._running: dict[ThreadPoolExecutor, tuple[asyncio.TimerHandle, float, float | None]] = {}
        self._lent_at: dict[ThreadPoolExecutor, float] = {}
        self._clocks: dict[ThreadPoolExecutor, int] = {}  # each thread's CPU clock, once it runs
        self._idle_timers: dict[ThreadPoolExecutor, asyncio.TimerHandle] = {}
        self._report = LineReport()
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
                self._report.count(asyncio.get_running_loop(), UNLENT, self.size, WAIT_SECONDS)
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
        """Wait in line for a thread that may run. Out of the line, once it has waited
        MAX_WAIT_SECONDS while a thread has been lent that long: an idle thread to run beside the
        others, or None; and None once every thread is lent and none has come back for
        WAIT_SECONDS since it joined. It looks again at least every WAIT_SECONDS."""
        loop = self._serving_loop()
        if not self._line and self._may_lend():
            return self._take()  # nobody waits and a thread may run: at once
        joined = loop.time()
        waiter: asyncio.Future[ThreadPoolExecutor] = loop.create_future()
        self._line.append(waiter)
        try:
            while not waiter.done():
                now, due = loop.time(), max(self._came_back, joined) + WAIT_SECONDS
                if now >= joined + MAX_WAIT_SECONDS and self._lent_long(now):
                    self._line.remove(waiter)
                    if not self._idle:
                        return None  # every thread lent: one of its own
                    self._report.count(loop, BESIDE, MAX_WAIT_SECONDS)
                    return self._take()
                if not self._idle and now >= due:
                    self._line.remove(waiter)
                    return None
                wake = due if not self._idle else joined + MAX_WAIT_SECONDS
                await asyncio.wait(
                    {waiter}, timeout=min(wake - now, WAIT_SECONDS) if wake > now else WAIT_SECONDS
                )
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

    def _lent_long(self, now: float) -> bool:
        """Whether a thread has been lent MAX_WAIT_SECONDS or more: with a thread idle, a running
        one (a long request the line waits behind); with none idle, any (one held)."""
        lent = self._running if self._idle else self._lent_at
        return any(now - self._lent_at[thread] >= MAX_WAIT_SECONDS for thread in lent)

    def _take(self) -> ThreadPoolExecutor:
        assert self._loop is not None
        thread = self._idle.pop()
        if (idle_timer := self._idle_timers.pop(thread, None)) is not None:
            idle_timer.cancel()
        self._lent_at[thread] = self._loop.time()
        self._watch(thread)
        return thread

    def _watch(self, thread: ThreadPoolExecutor) -> None:
        assert self._loop is not None
        look = self._loop.call_later(RUNNING_SECONDS, self._look, thread)
        self._running[thread] = (look, self._loop.time(), self._cpu_of(thread))

    def _look(self, thread: ThreadPoolExecutor) -> None:
        """A running thread that used less than a quarter of the time since it was last seen on
        the CPU is waiting on something: it steps aside. One still using the CPU keeps its place."""
        if (seen := self._running.get(thread)) is None or self._loop is None:
            return
        _, seen_at, cpu_then = seen
        cpu_now = self._cpu_of(thread)
        if cpu_now is None or (
            cpu_then is not None and cpu_now - cpu_then < (self._loop.time() - seen_at) / 4
        ):
            self._step_aside(thread)  # waiting, or no clock to tell: the time lent decides
        else:
            self._watch(thread)  # using the CPU (or its clock only just known): look again

    def _cpu_of(self, thread: ThreadPoolExecutor) -> float | None:
        """The thread's CPU time so far, or None where it cannot be read."""
        clock = self._clocks.get(thread)
        try:
            return None if clock is None else time.clock_gettime(clock)
        except OSError:  # the thread has ended
            return None

    def _lend_next(self) -> None:
        """Hand threads to the line, first come first served, while they may run."""
        while self._line and self._may_lend():
            if not (waiter := self._line.popleft()).done():
                waiter.set_result(self._take())

    def _step_aside(self, thread: ThreadPoolExecutor) -> None:
        if (seen := self._running.pop(thread, None)) is not None:
            seen[0].cancel()
            self._lend_next()

    def _thread_started(self, index: int) -> None:
        """Run first on each request thread."""
        _here.threads, _here.index = self, index
        with suppress(AttributeError, OSError):  # no per-thread CPU clocks here: time decides
            self._clocks[self._threads[index]] = time.pthread_getcpuclockid(threading.get_ident())
        keep_connections()

    def _give_back_from_thread(self, loop: asyncio.AbstractEventLoop, thread: ThreadPoolExecutor) -> None:
        with suppress(RuntimeError):  # the loop has closed (a test's)
            loop.call_soon_threadsafe(self._give_back, loop, thread)

    def _give_back(self, loop: asyncio.AbstractEventLoop, thread: ThreadPoolExecutor) -> None:
        if loop is not self._loop:
            return  # lent on a loop the threads have since left (tests)
        if (seen := self._running.pop(thread, None)) is not None:
            seen[0].cancel()
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
            self._idle_timers, self._report = {}, LineReport()
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

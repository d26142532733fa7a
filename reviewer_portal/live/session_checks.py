"""Open sockets' session checks in one serving process, made together.

Every open /ws/gates/ socket checks its session about once a minute (reviewer_portal.live.consumers).
Made one by one, each check was a thread hop and a database connection of its own (CONN_MAX_AGE
is 0): 2,000 idle sockets made about 44 connections a second. Now a socket's periodic check waits
for the process's next sweep (every SWEEP_SECONDS, at a phase of the process's own), so the
sockets due meanwhile wake together, and their checks go to the database in calls of up to BATCH
on one connection each, at most PERIODIC_CALLS calls at once. A check a push, an access change or
a handshake needs is not queued behind them: it starts a call of its own at once, with the other
such checks waiting (up to URGENT_BATCH).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import weakref
from typing import Any

from channels.db import database_sync_to_async
from django.db import DatabaseError, InterfaceError, OperationalError, connection

from reviewer_portal.live.access import groups_allowed

# Periodic checks fall due on this beat of the loop's clock; 0 checks each socket on its own time.
SWEEP_SECONDS = 5.0
# Periodic checks made in one database call (one connection, one thread hop), and such calls at once.
BATCH = 100
PERIODIC_CALLS = 4
# Urgent checks in one call: a push to many sockets due at once is spread over several calls.
URGENT_BATCH = 10

CONNECTION_FAILED = (OperationalError, InterfaceError)  # not one query's error: the database's
Request = tuple[str | None, Any]  # (session key, user pk)
Answer = list[str] | None


class NotAnswered(Exception):
    """The check was not made: an error in the portal, not in the database or the session."""


def groups_allowed_each(requests: list[Request]) -> list[Answer | Exception]:
    """`groups_allowed` for each request, on one connection: a request that fails fails alone.
    After a database error the connection is closed and the next request opens a fresh one; if
    the connection fails twice running (OperationalError, InterfaceError), the database is down,
    and every request left is told so rather than tried."""
    answers: list[Answer | Exception] = []
    failed_running = 0
    for session_key, user_pk in requests:
        try:
            answers.append(groups_allowed(session_key, user_pk))
            failed_running = 0
        except DatabaseError as error:
            answers.append(error)
            failed_running = failed_running + 1 if isinstance(error, CONNECTION_FAILED) else 0
            if failed_running == 2:
                return answers + [error] * (len(requests) - len(answers))
            with contextlib.suppress(Exception):
                connection.close()  # a connection dropped mid-call fails no other request
        except Exception as error:  # an odd session of one socket: the others are still answered
            answers.append(error)
    return answers


# On a thread pool, not on the one thread every consumer of the process shares.
_check_many = database_sync_to_async(groups_allowed_each, thread_sensitive=False)


class SessionChecks:
    """The checks and sweeps of one event loop (a serving process runs its sockets on one)."""

    def __init__(self) -> None:
        # Periodic checks, and those a push, an access change or a handshake waits on.
        self._waiting: dict[bool, list[tuple[Request, asyncio.Future[Answer]]]] = {False: [], True: []}
        self._making: dict[bool, set[asyncio.Task[None]]] = {False: set(), True: set()}
        self._sweeps: dict[float, asyncio.Future[None]] = {}
        # Serving processes on one host share its monotonic clock: each sweeps at its own phase.
        self._phase = random.uniform(0, SWEEP_SECONDS) if SWEEP_SECONDS > 0 else 0.0

    async def allowed(self, session_key: str | None, user_pk: Any, *, urgent: bool = True) -> Answer:
        """The groups this session may hear now (None: signed out); raises what the database
        raised. `urgent`: in a call made at once, with the other urgent checks waiting; not: in
        one of the periodic checks' calls."""
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting[urgent].append(((session_key, user_pk), answer))
        making = self._making[urgent]
        if urgent or len(making) < PERIODIC_CALLS:
            task = asyncio.create_task(self._make(urgent), name="live-session-checks")
            making.add(task)
        return await answer

    async def sweep_after(self, seconds: float) -> None:
        """Sleep at least `seconds`, until the process's next sweep after them."""
        if SWEEP_SECONDS <= 0:
            await asyncio.sleep(seconds)
            return
        loop = asyncio.get_running_loop()
        beat = math.ceil((loop.time() + seconds - self._phase) / SWEEP_SECONDS)
        at = beat * SWEEP_SECONDS + self._phase
        sweep = self._sweeps.get(at)
        if sweep is None:
            sweep = self._sweeps[at] = loop.create_future()
            loop.call_at(at, self._sweep, at)
        await asyncio.shield(sweep)  # a socket closed meanwhile does not cancel the others' sweep

    def _sweep(self, at: float) -> None:
        sweep = self._sweeps.pop(at)
        if not sweep.done():
            sweep.set_result(None)

    async def _make(self, urgent: bool) -> None:
        waiting, size = self._waiting[urgent], URGENT_BATCH if urgent else BATCH
        try:
            while waiting:
                batch = [(request, answer) for request, answer in waiting[:size] if not answer.done()]
                del waiting[:size]
                if batch:
                    await self._answer(batch)
        finally:  # at once, not by a callback: a check asked for meanwhile must start a call
            self._making[urgent].discard(asyncio.current_task())  # type: ignore[arg-type]

    async def _answer(self, batch: list[tuple[Request, asyncio.Future[Answer]]]) -> None:
        """One database call for the batch; every check in it is answered whatever happens."""
        try:
            results: list[Answer | Exception] = await _check_many([request for request, _ in batch])
        except asyncio.CancelledError:  # the loop is closing: so are its sockets
            for _, answer in batch:
                answer.cancel()
            raise
        except Exception as error:  # the thread pool failed: every socket of the batch is told
            results = [error] * len(batch)
        if len(results) != len(batch):
            results = [NotAnswered("the checks came back short")] * len(batch)
        for (_, answer), result in zip(batch, results, strict=True):
            if answer.done():  # its socket went away meanwhile
                continue
            try:
                if isinstance(result, BaseException):
                    answer.set_exception(result)
                else:
                    answer.set_result(result)
            except Exception:  # StopIteration and its like cannot be raised through a future
                answer.set_exception(NotAnswered(repr(result)))


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SessionChecks] = weakref.WeakKeyDictionary()


def session_checks() -> SessionChecks:
    """This event loop's checks (tests run consumers on several loops; a server on one)."""
    loop = asyncio.get_running_loop()
    checks = _per_loop.get(loop)
    if checks is None:
        for closed in [other for other in _per_loop if other.is_closed()]:
            del _per_loop[closed]  # its pending futures would keep it alive
        checks = _per_loop[loop] = SessionChecks()
    return checks

"""Open sockets' session checks in one serving process, made together.

Every open /ws/gates/ socket checks its session about once a minute (reviewer_portal.live.consumers).
Made one by one, each check was a thread hop and a database connection of its own (CONN_MAX_AGE
is 0): 2,000 idle sockets made about 44 connections a second. Now a socket's periodic check waits
for the process's next sweep (every SWEEP_SECONDS), so the sockets due meanwhile wake together,
and their checks go to the database in calls of up to BATCH on one connection each, one call after
another. A check a push, an access change or a handshake needs is not held back behind them: it
starts a call of its own at once, with the other such checks waiting.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from typing import Any

from channels.db import database_sync_to_async
from django.db import DatabaseError

from reviewer_portal.live.access import groups_allowed

# Periodic checks fall due on this beat of the loop's clock; 0 checks each socket on its own time.
SWEEP_SECONDS = 5.0
# Checks made in one database call (one connection, one thread hop); more wait for the next call.
BATCH = 100

Request = tuple[str | None, Any]  # (session key, user pk)
Answer = list[str] | None


def groups_allowed_each(requests: list[Request]) -> list[Answer | Exception]:
    """`groups_allowed` for each request, on one connection: a request that fails fails alone,
    unless the database failed twice running: it is down, and every request left is told so
    rather than tried against it."""
    answers: list[Answer | Exception] = []
    failed_running = 0
    for session_key, user_pk in requests:
        try:
            answers.append(groups_allowed(session_key, user_pk))
            failed_running = 0
        except DatabaseError as error:
            answers.append(error)
            failed_running += 1
            if failed_running == 2:
                return answers + [error] * (len(requests) - len(answers))
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

    async def allowed(self, session_key: str | None, user_pk: Any, *, urgent: bool = True) -> Answer:
        """The groups this session may hear now (None: signed out); raises what the database
        raised. `urgent`: in a call made at once, with the other urgent checks waiting; not: in
        the periodic checks' next call."""
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting[urgent].append(((session_key, user_pk), answer))
        making = self._making[urgent]
        if urgent or not making:
            task = asyncio.create_task(self._make(urgent), name="live-session-checks")
            making.add(task)
            task.add_done_callback(making.discard)
        return await answer

    async def sweep_after(self, seconds: float) -> None:
        """Sleep at least `seconds`, until the process's next sweep after them."""
        if SWEEP_SECONDS <= 0:
            await asyncio.sleep(seconds)
            return
        loop = asyncio.get_running_loop()
        at = math.ceil((loop.time() + seconds) / SWEEP_SECONDS) * SWEEP_SECONDS
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
        waiting = self._waiting[urgent]
        while waiting:
            batch = waiting[:BATCH]
            del waiting[:BATCH]
            batch = [(request, answer) for request, answer in batch if not answer.done()]
            if not batch:
                continue
            try:
                answers = await _check_many([request for request, _ in batch])
            except asyncio.CancelledError:  # the loop is closing: so are its sockets
                for _, answer in batch:
                    answer.cancel()
                raise
            except Exception as error:  # the thread pool failed: every socket of the batch is told
                for _, answer in batch:
                    if not answer.done():
                        answer.set_exception(error)
                continue
            for (_, answer), result in zip(batch, answers, strict=True):
                if answer.done():  # its socket went away meanwhile
                    continue
                if isinstance(result, Exception):
                    answer.set_exception(result)
                else:
                    answer.set_result(result)


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SessionChecks] = weakref.WeakKeyDictionary()


def session_checks() -> SessionChecks:
    """This event loop's checks (tests run consumers on several loops; a server on one)."""
    loop = asyncio.get_running_loop()
    checks = _per_loop.get(loop)
    if checks is None:
        checks = _per_loop[loop] = SessionChecks()
    return checks

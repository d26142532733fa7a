"""Open sockets' session checks made together in a serving process (issue 12, the portal under a
team): the sockets due in one sweep are checked in one database call; a check that fails fails
alone unless the database did; a push to a socket whose check is under way waits for its answer;
and no check is ever left unanswered, whatever a call returns or a socket does meanwhile."""

from __future__ import annotations

import asyncio
import math
import types
from collections.abc import Callable
from typing import Any

import channels.db
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import DataError, OperationalError
from django.test import Client

from reviewer_portal.asgi import application
from reviewer_portal.live import consumers, session_checks
from reviewer_portal.live.groups import role_group, user_group
from reviewer_portal.live.session_checks import NotAnswered, SessionChecks, groups_allowed_each
from tests.conftest import make_user
from tests.test_live import WAIT, announce, communicator_for, gate_row
from tests.test_live_access import closed

SOCKETS = 20


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until `condition` holds (within WAIT seconds)."""
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.005)


def test_sockets_due_together_are_checked_in_one_database_call(transactional_db, monkeypatch):
    """Before, each socket's periodic check was a thread hop and, in production (CONN_MAX_AGE 0),
    a database connection of its own: 20 sockets checking every half to one second made 72 calls
    in 3 s (now 2, for 40 checks). channels opens and closes the connections around every call,
    which is what is counted here."""
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 1.0)
    monkeypatch.setattr(session_checks, "SWEEP_SECONDS", 1.0)
    sockets = [communicator_for(make_user(f"officer{n}", "credit_officer")) for n in range(SOCKETS)]
    calls, checked, watched = 0, 0, 0.0
    around_each_call = channels.db.close_old_connections
    check = session_checks.groups_allowed

    def counted_call() -> None:
        nonlocal calls
        calls += 1
        around_each_call()

    def counted_check(*args: Any) -> Any:
        nonlocal checked
        checked += 1
        return check(*args)

    async def scenario() -> None:
        nonlocal watched
        for ws in sockets:
            assert (await ws.connect())[0]
        monkeypatch.setattr(channels.db, "close_old_connections", counted_call)
        monkeypatch.setattr(session_checks, "groups_allowed", counted_check)
        started = asyncio.get_running_loop().time()
        await asyncio.sleep(3)
        watched = asyncio.get_running_loop().time() - started
        monkeypatch.undo()
        for ws in sockets:
            assert await ws.receive_nothing(timeout=0.01)  # none was closed: each stayed allowed
            await ws.disconnect()

    async_to_sync(scenario)()
    # Every socket was checked at least once, in one call a sweep (channels counts two a call).
    assert checked >= SOCKETS
    assert calls // 2 <= math.ceil(watched) + 2, (calls, watched)


def test_a_push_to_a_socket_whose_check_is_under_way_waits_for_its_answer(transactional_db, monkeypatch):
    """The check's next time was moved on before its answer came, so a push meanwhile passed on
    the last answer: to a user deactivated behind the portal's back, for as long as the periodic
    check waited (found by the attacker's review)."""
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.4)
    monkeypatch.setattr(session_checks, "SWEEP_SECONDS", 0.1)
    officer = make_user("officer", "credit_officer")
    ws = communicator_for(officer)
    answers, held, release = session_checks._check_many, asyncio.Event(), asyncio.Event()

    async def held_back(requests: list[Any]) -> list[Any]:
        held.set()
        await release.wait()
        return await answers(requests)

    async def scenario() -> None:
        assert (await ws.connect())[0]
        monkeypatch.setattr(session_checks, "_check_many", held_back)  # each reads once released
        await sync_to_async(User.objects.filter(pk=officer.pk).update)(is_active=False)  # no signal
        await asyncio.wait_for(held.wait(), WAIT)  # the periodic check is under way
        await sync_to_async(announce)(await sync_to_async(gate_row)("credit_officer"))
        await asyncio.sleep(0.3)  # the push has reached the socket, which waits
        release.set()
        assert await closed(ws)  # signed out, and the push never passed on

    async_to_sync(scenario)()


def test_a_check_that_fails_fails_alone_unless_the_database_did(transactional_db, monkeypatch):
    officer, adviser = make_user("officer", "credit_officer"), make_user("adviser", "licensed_adviser")
    sessions = []
    for user in (officer, adviser):
        client = Client()
        client.force_login(user)
        sessions.append((client.session.session_key, user.pk))
    odd = ("odd-session", officer.pk)
    check = session_checks.groups_allowed

    def odd_one(error: Exception) -> Callable[[str | None, Any], Any]:
        def raising(session_key: str | None, user_pk: Any) -> Any:
            if session_key == "odd-session":
                raise error
            return check(session_key, user_pk)

        return raising

    monkeypatch.setattr(
        session_checks, "groups_allowed", odd_one(ValueError("a session the store cannot read"))
    )
    first, middle, last = groups_allowed_each([sessions[0], odd, sessions[1]])
    assert first == [role_group("credit_officer"), user_group(officer.pk)]
    assert isinstance(middle, ValueError)
    assert last == [role_group("licensed_adviser"), user_group(adviser.pk)]
    assert groups_allowed_each([("not-a-session", officer.pk)]) == [None]  # signed out, not an error

    # A connection dropped mid-call: closed, and the next check opens a fresh one. Before, the
    # dropped one failed every check after it in the call (the attacker's review).
    closes = []
    monkeypatch.setattr(session_checks, "connection", types.SimpleNamespace(close=lambda: closes.append(1)))
    monkeypatch.setattr(session_checks, "groups_allowed", odd_one(OperationalError("connection lost")))
    first, middle, last = groups_allowed_each([sessions[0], odd, sessions[1]])
    assert isinstance(middle, OperationalError) and first and last and closes == [1]

    # Two errors of single queries running (a value the database refuses, say) are no outage.
    monkeypatch.setattr(session_checks, "groups_allowed", odd_one(DataError("a value refused")))
    answers = groups_allowed_each([sessions[0], odd, odd, sessions[1]])
    assert answers[0] and answers[3] and all(isinstance(a, DataError) for a in answers[1:3])

    asked = []

    def database_down(session_key: str | None, user_pk: Any) -> Any:
        asked.append(session_key)
        raise OperationalError("the database is down")

    monkeypatch.setattr(session_checks, "groups_allowed", database_down)
    answers = groups_allowed_each([sessions[0], odd, sessions[1], sessions[0]])
    assert all(isinstance(a, OperationalError) for a in answers) and len(answers) == 4
    assert asked == [sessions[0][0], "odd-session"]  # a fresh connection failed too: the rest untried


def test_periodic_checks_wait_for_a_call_a_pushs_does_not_and_one_gone_harms_none(monkeypatch):
    monkeypatch.setattr(session_checks, "PERIODIC_CALLS", 1)
    release = asyncio.Event()
    calls: list[list[Any]] = []

    async def slow(requests: list[Any]) -> list[Any]:
        calls.append(requests)
        await release.wait()
        return [[f"groups of {key}"] for key, _ in requests]

    monkeypatch.setattr(session_checks, "_check_many", slow)

    async def scenario() -> None:
        checks = SessionChecks()
        first = asyncio.create_task(checks.allowed("a", 1, urgent=False))
        await until(lambda: len(calls) == 1)  # its call is under way
        gone, kept = (asyncio.create_task(checks.allowed(key, 1, urgent=False)) for key in ("b", "c"))
        await until(lambda: len(checks._waiting[False]) == 2)
        gone.cancel()  # its socket closed while it waited
        pushed = asyncio.create_task(checks.allowed("d", 1))  # a push's: a call of its own, now
        await until(lambda: len(calls) == 2)
        assert calls == [[("a", 1)], [("d", 1)]]
        release.set()
        assert await first == ["groups of a"] and await pushed == ["groups of d"]
        assert await kept == ["groups of c"]
        assert calls[2:] == [[("c", 1)]]  # the periodic ones waiting went in one call, less the one gone
        with pytest.raises(asyncio.CancelledError):
            await gone

    asyncio.run(scenario())


def test_a_check_asked_for_as_the_last_call_ends_is_still_made(monkeypatch):
    """The call's task left the set of calls under way by a callback, a loop turn after it ended:
    a periodic check asked for in between started no call and waited for the next socket's, and
    held its socket's lock meanwhile (found by the attacker's review)."""
    monkeypatch.setattr(session_checks, "PERIODIC_CALLS", 1)

    async def scenario() -> None:
        checks, ready = SessionChecks(), asyncio.Event()

        async def answering(requests: list[Any]) -> list[Any]:
            ready.set()  # another socket wakes as this call returns
            return [["groups"]] * len(requests)

        monkeypatch.setattr(session_checks, "_check_many", answering)

        async def late() -> Any:
            await ready.wait()
            return await checks.allowed("late", 2, urgent=False)

        other = asyncio.create_task(late())
        assert await checks.allowed("first", 1, urgent=False) == ["groups"]
        assert await asyncio.wait_for(other, WAIT) == ["groups"]

    asyncio.run(scenario())


def test_whatever_a_call_returns_every_check_in_it_is_answered(monkeypatch):
    """An answer a future cannot carry (StopIteration), or a call that comes back short, left
    the checks after it unanswered for good (found by the attacker's review)."""

    async def odd_answers(requests: list[Any]) -> list[Any]:
        if len(requests) == 1:
            return []  # short
        return [StopIteration() if key == "odd" else ["groups"] for key, _ in requests]

    monkeypatch.setattr(session_checks, "_check_many", odd_answers)

    async def scenario() -> None:
        checks = SessionChecks()
        tasks = [asyncio.create_task(checks.allowed(key, 1, urgent=False)) for key in ("a", "odd", "c")]
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert done[0] == done[2] == ["groups"] and isinstance(done[1], NotAnswered)
        with pytest.raises(NotAnswered):
            await checks.allowed("alone", 1)

    asyncio.run(scenario())


def test_sockets_due_at_different_times_wake_at_the_same_sweep_and_one_gone_leaves_it(monkeypatch):
    monkeypatch.setattr(session_checks, "SWEEP_SECONDS", 0.5)

    async def scenario() -> None:
        checks, loop = SessionChecks(), asyncio.get_running_loop()
        await checks.sweep_after(0)  # just after a beat: the next is half a second away
        start = loop.time()
        soon, later, gone = (asyncio.create_task(checks.sweep_after(s)) for s in (0.01, 0.02, 0.03))
        await asyncio.sleep(0)
        assert len(checks._sweeps) == 1  # one sweep for all three
        gone.cancel()
        await asyncio.gather(soon, later)
        assert loop.time() - start >= 0.1  # they waited for the beat, not their own time
        with pytest.raises(asyncio.CancelledError):
            await gone

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "forged",
    [
        "ünïcode\u202e\u200b-session",
        "x" * 10_000,
        "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"),
    ],
    ids=["odd-unicode", "oversize", "lone-surrogate"],
)
def test_a_forged_session_cookie_opens_no_socket_and_an_honest_one_is_still_checked(
    transactional_db, monkeypatch, forged
):
    """A cookie naming no session (odd Unicode, 10,000 characters, bytes no text has) is refused at
    the handshake, as an anonymous one is; an honest socket beside it goes on being checked."""
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.4)
    monkeypatch.setattr(session_checks, "SWEEP_SECONDS", 0.1)
    officer = make_user("officer", "credit_officer")
    honest = communicator_for(officer)
    cookie = f"{django_settings.SESSION_COOKIE_NAME}={forged}".encode("utf-8", "surrogatepass")
    attempt = WebsocketCommunicator(
        application,
        "/ws/gates/",
        headers=[(b"origin", b"http://testserver"), (b"host", b"testserver"), (b"cookie", cookie)],
    )

    async def scenario() -> None:
        assert (await honest.connect())[0]
        assert not (await attempt.connect())[0]
        await sync_to_async(User.objects.filter(pk=officer.pk).update)(is_active=False)  # no signal
        assert await closed(honest)  # the periodic check still came, and found the change

    async_to_sync(scenario)()

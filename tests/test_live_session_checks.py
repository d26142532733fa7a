"""Open sockets' session checks made together in a serving process (issue 12, the portal under a
team): the sockets due in one sweep are checked in one database call, a check that fails fails
alone unless the database did, and a socket that goes away meanwhile harms no other's check."""

from __future__ import annotations

import asyncio
from typing import Any

import channels.db
import pytest
from asgiref.sync import async_to_sync
from django.db import OperationalError
from django.test import Client

from reviewer_portal.live import consumers, session_checks
from reviewer_portal.live.groups import role_group, user_group
from reviewer_portal.live.session_checks import SessionChecks, groups_allowed_each
from tests.conftest import make_user
from tests.test_live import communicator_for

SOCKETS = 20


def test_sockets_due_together_are_checked_in_one_database_call(transactional_db, monkeypatch):
    """Before, each socket's periodic check was a thread hop and, in production (CONN_MAX_AGE 0),
    a database connection of its own: 20 sockets checking every half to one second made 72 calls
    in the 3 s watched (now 2, for 40 checks). channels opens and closes the connections around
    every call, which is what is counted here."""
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 1.0)
    monkeypatch.setattr(session_checks, "SWEEP_SECONDS", 1.0)
    sockets = [communicator_for(make_user(f"officer{n}", "credit_officer")) for n in range(SOCKETS)]
    calls, checked = 0, 0
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
        for ws in sockets:
            assert (await ws.connect())[0]
        monkeypatch.setattr(channels.db, "close_old_connections", counted_call)
        monkeypatch.setattr(session_checks, "groups_allowed", counted_check)
        await asyncio.sleep(3)
        monkeypatch.undo()
        for ws in sockets:
            assert await ws.receive_nothing(timeout=0.01)  # none was closed: each stayed allowed
            await ws.disconnect()

    async_to_sync(scenario)()
    # Every socket was checked at least once, and 2 or 3 sweeps (two counts a call) made them all.
    assert checked >= SOCKETS
    assert calls <= 2 * 4, calls


def test_a_check_that_fails_fails_alone_unless_the_database_did(transactional_db, monkeypatch):
    officer, adviser = make_user("officer", "credit_officer"), make_user("adviser", "licensed_adviser")
    sessions = []
    for user in (officer, adviser):
        client = Client()
        client.force_login(user)
        sessions.append((client.session.session_key, user.pk))
    odd = ("odd-session", officer.pk)
    check = session_checks.groups_allowed

    def odd_one_raises(session_key: str | None, user_pk: Any) -> Any:
        if session_key == "odd-session":
            raise ValueError("a session the store cannot read")
        return check(session_key, user_pk)

    monkeypatch.setattr(session_checks, "groups_allowed", odd_one_raises)
    first, middle, last = groups_allowed_each([sessions[0], odd, sessions[1]])
    assert first == [role_group("credit_officer"), user_group(officer.pk)]
    assert isinstance(middle, ValueError)
    assert last == [role_group("licensed_adviser"), user_group(adviser.pk)]
    assert groups_allowed_each([("not-a-session", officer.pk)]) == [None]  # signed out, not an error

    def odd_one_fails_in_the_database(session_key: str | None, user_pk: Any) -> Any:
        if session_key == "odd-session":
            raise OperationalError("one query failed")
        return check(session_key, user_pk)

    monkeypatch.setattr(session_checks, "groups_allowed", odd_one_fails_in_the_database)
    first, middle, last = groups_allowed_each([sessions[0], odd, sessions[1]])
    assert isinstance(middle, OperationalError) and first and last  # one failure is not an outage

    asked = []

    def database_down(session_key: str | None, user_pk: Any) -> Any:
        asked.append(session_key)
        raise OperationalError("the database is down")

    monkeypatch.setattr(session_checks, "groups_allowed", database_down)
    answers = groups_allowed_each([sessions[0], odd, sessions[1], sessions[0]])
    assert all(isinstance(a, OperationalError) for a in answers) and len(answers) == 4
    assert asked == [sessions[0][0], "odd-session"]  # two failed running: the rest were not tried


def test_periodic_checks_wait_for_the_call_under_way_a_pushs_does_not_and_one_gone_harms_none(
    monkeypatch,
):
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
        await asyncio.sleep(0)  # its call is under way
        gone, kept = (asyncio.create_task(checks.allowed(key, 1, urgent=False)) for key in ("b", "c"))
        await asyncio.sleep(0)
        gone.cancel()  # its socket closed while it waited
        pushed = asyncio.create_task(checks.allowed("d", 1))  # a push's: a call of its own, now
        for _ in range(3):
            await asyncio.sleep(0)
        assert calls == [[("a", 1)], [("d", 1)]]
        release.set()
        assert await first == ["groups of a"] and await pushed == ["groups of d"]
        assert await kept == ["groups of c"]
        assert calls[2:] == [[("c", 1)]]  # the periodic ones waiting went in one call, less the one gone
        with pytest.raises(asyncio.CancelledError):
            await gone

    asyncio.run(scenario())


def test_sockets_due_at_different_times_wake_at_the_same_sweep_and_one_gone_leaves_it(monkeypatch):
    monkeypatch.setattr(session_checks, "SWEEP_SECONDS", 0.5)

    async def scenario() -> None:
        checks, loop = SessionChecks(), asyncio.get_running_loop()
        woke: list[float] = []

        async def sleeper(seconds: float) -> None:
            await checks.sweep_after(seconds)
            woke.append(loop.time())

        start = loop.time()
        soon, later, gone = (asyncio.create_task(sleeper(s)) for s in (0.01, 0.02, 0.03))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.gather(soon, later)
        assert abs(woke[1] - woke[0]) < 0.01 and woke[0] >= start + 0.01  # one sweep woke both
        assert woke[0] % 0.5 < 0.05 or woke[0] % 0.5 > 0.45  # on the beat
        with pytest.raises(asyncio.CancelledError):
            await gone

    asyncio.run(scenario())

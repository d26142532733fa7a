"""The database channel layer's fast path: a message wakes the reader instead of waiting for a poll.

On PostgreSQL a NOTIFY sent with the row wakes the reading process's LISTEN connection; on SQLite a
quick look at the table's highest id, every `check_interval`, does. The readers here poll only
every 10 minutes (FAR), so a message that arrives at all arrived by the fast path; where the poll
is the point (a LISTEN connection killed), it is short. Senders are another process or another
thread, each with its own database connection, as the worker sidecar is for the portal. The tests
run on the database of the run: CI runs the suite on SQLite and again on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import uvloop
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection

from reviewer_portal.live.layers import DatabaseChannelLayer
from reviewer_portal.live.models import LiveMessage
from reviewer_portal.live.pg_notify import CHANNEL

ROOT = Path(__file__).resolve().parent.parent
FAR = 600.0  # a poll interval no test waits for
WAIT = 10  # seconds a message may take before a test calls it lost
OFFICERS = "gates.role.credit_officer"
COMPLIANCE = "gates.role.compliance_reviewer"
POSTGRESQL_ONLY = pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="the LISTEN connection exists on PostgreSQL only: runs in the PostgreSQL pass of .ci/run",
)

SENDER = """
import asyncio, json, sys
import django
django.setup()
from reviewer_portal.live.layers import DatabaseChannelLayer

async def send():
    layer = DatabaseChannelLayer()
    for group, message in json.loads(sys.argv[1]):
        await layer.group_send(group, message)

asyncio.run(send())
"""


def database_url() -> str:
    """The test database, for another process."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    credentials = quote(settings["USER"] or "") + (
        f":{quote(settings['PASSWORD'])}" if settings["PASSWORD"] else ""
    )
    host = f"{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{settings['NAME']}"


def send_from_another_process(messages: list[tuple[str, dict[str, Any]]]) -> None:
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "reviewer_portal.settings"}
    done = subprocess.run(
        [sys.executable, "-c", SENDER, json.dumps(messages)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


async def receive_all(layer: DatabaseChannelLayer, channel: str, count: int) -> list[dict[str, Any]]:
    return [await asyncio.wait_for(layer.receive(channel), WAIT) for _ in range(count)]


async def nothing_more(layer: DatabaseChannelLayer, channel: str) -> bool:
    try:
        extra = await asyncio.wait_for(layer.receive(channel), 1.0)
    except TimeoutError:
        return True
    pytest.fail(f"Delivered again or wrongly: {extra}")


def run_on(loop: str, scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """`scenario` on asyncio's event loop (daphne's, `make dev`) or on uvloop's (each serve_portal
    process's): the LISTEN connection waits on the loop's reader, whichever loop it is."""
    if loop == "uvloop":
        uvloop.run(scenario())
    else:
        async_to_sync(scenario)()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_message_from_another_process_wakes_the_reader_and_arrives_once(transactional_db, loop):
    receiver = DatabaseChannelLayer(poll_interval=FAR)
    sent = [(OFFICERS if n % 2 else COMPLIANCE, {"type": "gate.changed", "n": n}) for n in range(20)]

    async def scenario():
        channel = await receiver.new_channel()
        await receiver.group_add(OFFICERS, channel)
        try:
            await sync_to_async(send_from_another_process)(sent)
            heard = await receive_all(receiver, channel, 10)
            assert heard == [message for group, message in sent if group == OFFICERS]
            assert await nothing_more(receiver, channel)
        finally:
            await receiver.group_discard(OFFICERS, channel)

    run_on(loop, scenario)


def test_messages_from_another_thread_arrive_without_waiting_for_a_poll_each_once(transactional_db):
    sender, receiver = DatabaseChannelLayer(), DatabaseChannelLayer(poll_interval=FAR)

    async def scenario():
        channel = await receiver.new_channel()
        await receiver.group_add(OFFICERS, channel)
        try:
            # Sent on database_sync_to_async's thread, with a connection of its own; some back to back.
            for n in range(30):
                await sender.group_send(OFFICERS, {"type": "gate.changed", "n": n})
                if n % 3 == 0:
                    await asyncio.sleep(0.05)
            heard = await receive_all(receiver, channel, 30)
            assert [message["n"] for message in heard] == list(range(30))
            assert await nothing_more(receiver, channel)
        finally:
            await receiver.group_discard(OFFICERS, channel)

    async_to_sync(scenario)()


def test_odd_payloads_arrive_intact_and_what_is_not_json_is_refused_by_the_sender(transactional_db):
    sender, receiver = DatabaseChannelLayer(), DatabaseChannelLayer(poll_interval=FAR)
    unicode = {"type": "gate.changed", "subject": "Zoë Łukasiewicz — 10 000 € ✓ 🚀", "quote": 'it\'s "x"\n\\'}
    big = {"type": "gate.changed", "text": "x" * 500_000}

    async def scenario():
        channel = await receiver.new_channel()
        await receiver.group_add(OFFICERS, channel)
        try:
            with pytest.raises(TypeError):
                await sender.group_send(OFFICERS, {"type": "gate.changed", "when": time})
            with pytest.raises(AssertionError):
                await sender.group_send(OFFICERS, ["not", "a", "dict"])
            await sender.group_send(OFFICERS, unicode)
            await sender.group_send(OFFICERS, big)
            assert await receive_all(receiver, channel, 2) == [unicode, big]
            assert await nothing_more(receiver, channel)
        finally:
            await receiver.group_discard(OFFICERS, channel)

    async_to_sync(scenario)()
    assert LiveMessage.objects.count() == 2  # the refused ones were never stored


@pytest.mark.parametrize("group", ["has space", "gates.rôle", "x" * 100, "", "semi;colon"])
def test_group_names_are_validated_before_anything_is_stored(transactional_db, group):
    layer = DatabaseChannelLayer()
    with pytest.raises(TypeError):
        async_to_sync(layer.group_send)(group, {"type": "gate.changed"})
    with pytest.raises(TypeError):
        async_to_sync(layer.group_add)(group, "some.channel!abc")
    assert not LiveMessage.objects.exists()


# --- PostgreSQL: the LISTEN connection ------------------------------------------------------------


def listening_backends() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = %s",
            [f"LISTEN {CHANNEL}"],
        )
        return {pid for (pid,) in cursor.fetchall()}


async def wait_for_listener(other_than: frozenset[int] = frozenset()) -> int:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if fresh := await sync_to_async(listening_backends)() - other_than:
            (pid,) = fresh
            return pid
        await asyncio.sleep(0.05)
    pytest.fail("No LISTEN connection")


def terminate(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert cursor.fetchone() == (True,)


@POSTGRESQL_ONLY
def test_a_killed_listen_connection_is_reconnected_and_what_was_sent_meanwhile_arrives(transactional_db):
    sender = DatabaseChannelLayer()
    receiver = DatabaseChannelLayer(poll_interval=FAR, listen_retry=0.5)

    async def scenario():
        channel = await receiver.new_channel()
        await receiver.group_add(OFFICERS, channel)
        try:
            killed = await wait_for_listener()
            await sync_to_async(terminate)(killed)
            await sender.group_send(OFFICERS, {"n": "while reconnecting"})
            # Only the reconnection's read can deliver it: no NOTIFY reached a listener, no poll ran.
            assert await receive_all(receiver, channel, 1) == [{"n": "while reconnecting"}]
            await wait_for_listener(other_than=frozenset({killed}))
            await sender.group_send(OFFICERS, {"n": "after"})
            assert await receive_all(receiver, channel, 1) == [{"n": "after"}]
            assert await nothing_more(receiver, channel)
        finally:
            await receiver.group_discard(OFFICERS, channel)

    async_to_sync(scenario)()


@POSTGRESQL_ONLY
def test_while_the_listen_connection_is_down_the_poll_delivers(transactional_db):
    sender = DatabaseChannelLayer()
    receiver = DatabaseChannelLayer(poll_interval=0.2, listen_retry=FAR)

    async def scenario():
        channel = await receiver.new_channel()
        await receiver.group_add(OFFICERS, channel)
        try:
            await sync_to_async(terminate)(await wait_for_listener())
            for n in range(3):
                await sender.group_send(OFFICERS, {"n": n})
            assert await receive_all(receiver, channel, 3) == [{"n": 0}, {"n": 1}, {"n": 2}]
            assert await nothing_more(receiver, channel)
            assert not await sync_to_async(listening_backends)()  # the poll did it, not a new LISTEN
        finally:
            await receiver.group_discard(OFFICERS, channel)

    async_to_sync(scenario)()


@POSTGRESQL_ONLY
def test_the_listen_connection_closes_when_the_last_group_empties(transactional_db):
    receiver = DatabaseChannelLayer(poll_interval=0.05)

    async def scenario():
        channel = await receiver.new_channel()
        await receiver.group_add(OFFICERS, channel)
        await wait_for_listener()
        await receiver.group_discard(OFFICERS, channel)
        for _ in range(100):
            if not receiver.polling:
                break
            await asyncio.sleep(0.05)

    async_to_sync(scenario)()
    assert not receiver.polling
    # The server lists a closed connection's backend until that process has exited: a moment.
    deadline = time.monotonic() + WAIT
    while listening_backends() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listening_backends() == set()


# --- Redis: the production default ---------------------------------------------------------------

QUIET_RECEIVE = """
import asyncio
import django
django.setup()
from channels.layers import get_channel_layer

async def receive():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    try:
        await asyncio.wait_for(layer.receive(channel), 7)  # longer than a blocking read of Redis
    except TimeoutError as quiet:
        print(type(quiet).__module__, type(quiet).__name__)

asyncio.run(receive())
"""


def test_a_quiet_websocket_on_the_redis_layer_of_the_settings_keeps_waiting():
    """redis-py 8 gave up reading after 5 s, as long as channels-redis's BZPOPMIN waits, so a
    consumer that heard nothing for 5 s failed with redis' TimeoutError and closed its socket."""
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    env = {**os.environ, "REDIS_URL": redis_url, "DJANGO_SETTINGS_MODULE": "reviewer_portal.settings"}
    done = subprocess.run(
        [sys.executable, "-c", QUIET_RECEIVE], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["builtins", "TimeoutError"]  # ours: nothing came, nothing failed

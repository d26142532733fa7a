"""An open /ws/gates/ socket speaks for its session only while the session may still hear (issue
12, the attacker's review of live push). Before, a socket was authorised once, at the handshake:
a reviewer moved off a role, deactivated, signed out or with a changed password kept hearing that
role's gate changes for as long as the tab stayed open; a session the HTTP side had signed out for
idleness or age still opened one; a frame that was not JSON crashed the consumer and left it in
its groups, where every push then wrote to it; and reviewers connecting at the same moment started
a poller (and on PostgreSQL a LISTEN connection) each."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User
from django.contrib.sessions.models import Session
from django.db import OperationalError, connection
from django.test import Client, override_settings

from reviewer_portal.accounts.session_limits import LAST_ACTIVE, LOGGED_IN_AT
from reviewer_portal.live import consumers
from reviewer_portal.live.broadcast import push_loop
from reviewer_portal.live.groups import role_group
from reviewer_portal.live.layers import DatabaseChannelLayer
from reviewer_portal.live.models import LiveMessage
from tests.conftest import make_user
from tests.test_live import (
    DATABASE_LAYER,
    WAIT,
    adviser_gate,
    announce,
    communicator_for,
    compliance_gate,
    gate_row,
    layer_config,
)

__all__ = ["layer_config"]  # the fixture, shared with tests/test_live.py

SIGNED_OUT = 4001


async def closed(ws: WebsocketCommunicator) -> bool:
    """The server closed the socket (with SIGNED_OUT) within WAIT."""
    output = await ws.receive_output(timeout=WAIT)
    return output == {"type": "websocket.close", "code": SIGNED_OUT}


async def hears(ws: WebsocketCommunicator, gate_id: str) -> bool:
    """The next push of a gate to `ws` is of `gate_id` (told meanwhile that its access changed)."""
    try:
        while "gate_id" not in (pushed := await ws.receive_json_from(timeout=WAIT)):
            assert pushed == {"access": "changed"}, pushed
        return bool(pushed["gate_id"] == gate_id)
    except TimeoutError:
        return False


def deactivate(user: User) -> None:
    user.is_active = False
    user.save()


def change_password(user: User) -> None:
    user.set_password("another-long-password-456")
    user.save()


@pytest.mark.parametrize("change", [deactivate, change_password])
def test_a_socket_is_closed_as_soon_as_its_user_may_no_longer_hear(layer_config, change):
    officer = make_user("officer", "credit_officer")
    ws = communicator_for(officer)

    async def scenario() -> None:
        assert (await ws.connect())[0]
        await sync_to_async(change)(officer)
        await sync_to_async(announce)(await sync_to_async(gate_row)("credit_officer"))
        assert await closed(ws)  # the gate's push never came
        assert await ws.receive_nothing(timeout=0.5)

    async_to_sync(scenario)()


def test_a_role_taken_away_is_not_heard_from_the_next_push_on(layer_config):
    officer = make_user("officer", "credit_officer", "licensed_adviser")
    ws = communicator_for(officer)

    async def scenario() -> None:
        assert (await ws.connect())[0]
        await sync_to_async(officer.groups.remove)(
            await sync_to_async(Group.objects.get)(name="credit_officer")
        )
        await sync_to_async(announce)(await sync_to_async(gate_row)("credit_officer"))
        kept = await sync_to_async(adviser_gate)()
        await sync_to_async(announce)(kept)
        assert await hears(ws, kept.gate_id)  # the loan gate never came: only the adviser's
        await ws.disconnect()

    async_to_sync(scenario)()


def test_signing_out_closes_that_sessions_socket_and_not_another_sessions(layer_config):
    officer = make_user("officer", "credit_officer")
    leaving, staying = Client(), Client()
    leaving.force_login(officer)
    staying.force_login(officer)
    left, kept = communicator_for(officer, client=leaving), communicator_for(officer, client=staying)

    async def scenario() -> None:
        assert (await left.connect())[0] and (await kept.connect())[0]
        await sync_to_async(leaving.post)("/accounts/logout/")
        gate = await sync_to_async(gate_row)("credit_officer")
        await sync_to_async(announce)(gate)
        assert await closed(left)
        assert await hears(kept, gate.gate_id)
        await kept.disconnect()

    async_to_sync(scenario)()


def test_a_role_added_is_heard_on_the_open_socket(layer_config):
    officer = make_user("officer", "credit_officer")
    ws = communicator_for(officer)

    async def scenario() -> None:
        assert (await ws.connect())[0]
        group = await sync_to_async(Group.objects.get_or_create)(name="compliance_reviewer")
        await sync_to_async(officer.groups.add)(group[0])
        # Told once the socket has joined the new role's group, and not before.
        assert await ws.receive_json_from(timeout=WAIT) == {"access": "changed"}
        gate = await sync_to_async(compliance_gate)()
        await sync_to_async(announce)(gate)
        assert await hears(ws, gate.gate_id)
        await ws.disconnect()

    async_to_sync(scenario)()


def cleared_from_the_group(officer: User) -> None:
    Group.objects.get(name="credit_officer").user_set.clear()


def group_renamed(officer: User) -> None:
    group = Group.objects.get(name="credit_officer")
    group.name = "former_credit_officer"
    group.save()


def group_deleted(officer: User) -> None:
    Group.objects.get(name="credit_officer").delete()


@pytest.mark.parametrize("change", [cleared_from_the_group, group_renamed, group_deleted])
def test_a_role_taken_away_from_the_groups_side_is_not_heard_from_the_next_push_on(layer_config, change):
    officer = make_user("officer", "credit_officer", "licensed_adviser")
    ws = communicator_for(officer)

    async def scenario() -> None:
        assert (await ws.connect())[0]
        await sync_to_async(change)(officer)
        await sync_to_async(announce)(await sync_to_async(gate_row)("credit_officer"))
        kept = await sync_to_async(adviser_gate)()
        await sync_to_async(announce)(kept)
        assert await hears(ws, kept.gate_id)  # the loan gate never came
        await ws.disconnect()

    async_to_sync(scenario)()


def end_every_session(user: User) -> None:
    Session.objects.all().delete()  # no signal names the user


def deactivate_in_bulk(user: User) -> None:
    User.objects.filter(pk=user.pk).update(is_active=False)  # no signal at all


@pytest.mark.parametrize("change", [end_every_session, deactivate_in_bulk])
def test_a_change_no_signal_tells_is_found_when_the_next_push_comes(transactional_db, monkeypatch, change):
    """The socket checks its session again when a push arrives, at most every RECHECK_SECONDS."""
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0)
    officer = make_user("officer", "credit_officer")
    ws = communicator_for(officer)

    async def scenario() -> None:
        assert (await ws.connect())[0]
        await sync_to_async(change)(officer)
        await sync_to_async(announce)(await sync_to_async(gate_row)("credit_officer"))
        assert await closed(ws)

    async_to_sync(scenario)()


@pytest.mark.parametrize("limit", [LAST_ACTIVE, LOGGED_IN_AT], ids=["idle", "too-old"])
def test_a_session_signed_out_for_idleness_or_age_opens_no_socket(transactional_db, settings, limit):
    officer = make_user("officer", "credit_officer")
    client = Client()
    client.force_login(officer)
    session = client.session
    session[limit] = time.time() - max(settings.SESSION_IDLE_SECONDS, settings.SESSION_COOKIE_AGE) - 60
    session.save()
    ws = communicator_for(officer, client=client)

    async def scenario() -> bool:
        connected, _ = await ws.connect()
        return connected

    assert not async_to_sync(scenario)()
    assert client.get("/").status_code == 302  # as the HTTP side signs it out


@pytest.mark.parametrize(
    "frame", [{"text_data": "not json"}, {"bytes_data": b"\x00\xff"}], ids=["text", "bytes"]
)
def test_a_frame_from_the_browser_is_dropped_unread_and_the_socket_goes_on(
    layer_config, frame: dict[str, Any]
):
    officer = make_user("officer", "credit_officer")
    ws = communicator_for(officer)

    async def scenario() -> None:
        assert (await ws.connect())[0]
        await ws.send_to(**frame)
        gate = await sync_to_async(gate_row)("credit_officer")
        await sync_to_async(announce)(gate)
        assert await hears(ws, gate.gate_id)
        await ws.disconnect()
        layer = get_channel_layer()
        if isinstance(layer, DatabaseChannelLayer):
            assert not layer.groups.get(role_group("credit_officer"))  # it left its groups

    async_to_sync(scenario)()


def test_reviewers_connecting_at_the_same_moment_share_one_poller(transactional_db):
    layer = DatabaseChannelLayer(poll_interval=0.05)

    async def scenario() -> int:
        channels = [await layer.new_channel() for _ in range(20)]
        await asyncio.gather(*(layer.group_add(role_group("credit_officer"), c) for c in channels))
        pollers = [t for t in asyncio.all_tasks() if t.get_name() == "live-layer-poller" and not t.done()]
        for channel in channels:
            await layer.group_discard(role_group("credit_officer"), channel)
        return len(pollers)

    assert async_to_sync(scenario)() == 1


@pytest.mark.parametrize(
    "origin", [b"http://testserver:abc", b"http://testserver:99999"], ids=["abc", "99999"]
)
def test_an_origin_whose_port_is_not_one_is_refused_not_an_error(transactional_db, origin):
    ws = communicator_for(make_user("officer", "credit_officer"), origin=origin)

    async def scenario() -> bool:
        connected, _ = await ws.connect()
        return connected

    assert not async_to_sync(scenario)()


def test_a_page_on_an_ipv6_address_connects(transactional_db, settings):
    settings.ALLOWED_HOSTS = ["[::1]"]
    ws = communicator_for(
        make_user("officer", "credit_officer"), origin=b"http://[::1]:8000", host=b"[::1]:8000"
    )

    async def scenario() -> bool:
        connected, _ = await ws.connect()
        await ws.disconnect()
        return connected

    assert async_to_sync(scenario)()


def test_the_first_push_after_the_senders_connection_broke_is_sent_on_a_new_one(transactional_db):
    """The database restarted or dropped the sending thread's kept connection: that push was lost."""
    layer = DatabaseChannelLayer()

    def break_the_connection() -> None:
        connection.ensure_connection()
        connection.connection.close()  # under Django's feet, as a restart leaves it

    async def scenario() -> None:
        await layer._sender.run(break_the_connection)
        await layer.group_send(role_group("credit_officer"), {"type": "gate.changed", "n": 1})

    async_to_sync(scenario)()
    assert list(LiveMessage.objects.values_list("payload", flat=True)) == [{"type": "gate.changed", "n": 1}]


def test_checks_the_database_cannot_answer_pass_nothing_on_then_close_the_socket_and_leave_its_groups(
    transactional_db, monkeypatch
):
    """A check that fails passes no push on; after MAX_FAILED_CHECKS in a row the socket closes."""
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0)
    monkeypatch.setattr(consumers, "RETRY_SECONDS", 0.2)
    officer = make_user("officer", "credit_officer")
    ws = communicator_for(officer)
    layer = get_channel_layer()

    async def down(*args: object) -> None:
        raise OperationalError("the database is down")

    async def scenario() -> None:
        assert (await ws.connect())[0]
        monkeypatch.setattr(consumers, "_groups_allowed", down)
        await sync_to_async(announce)(await sync_to_async(gate_row)("credit_officer"))
        assert await closed(ws)  # the push never came: the socket waited, then closed
        if isinstance(layer, DatabaseChannelLayer):  # on Redis: the group has no other member
            assert not layer.groups.get(role_group("credit_officer"))

    async_to_sync(scenario)()


def test_a_moments_failover_keeps_the_socket_and_holds_back_pushes_until_a_check_is_made(
    transactional_db, monkeypatch
):
    """Before, one check the database could not answer closed the socket: a failover of a few
    seconds closed a share of every open page, which all reconnected and re-read at once. Now the
    pushes meanwhile are held back, and once a check is made the page re-reads what it missed."""
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0)
    monkeypatch.setattr(consumers, "RETRY_SECONDS", 0.3)
    officer = make_user("officer", "credit_officer")
    ws = communicator_for(officer)
    answers = consumers._groups_allowed
    down, answered = True, threading.Event()

    async def failing_over(*args: Any) -> Any:
        if down:
            raise OperationalError("the database is failing over")
        answered.set()
        return await answers(*args)

    async def scenario() -> None:
        nonlocal down
        assert (await ws.connect())[0]
        monkeypatch.setattr(consumers, "_groups_allowed", failing_over)
        await sync_to_async(announce)(await sync_to_async(gate_row)("credit_officer"))
        await asyncio.sleep(0.1)
        down = False
        assert await asyncio.to_thread(answered.wait, WAIT)  # the retry's check was made
        assert await ws.receive_json_from(timeout=WAIT) == {"catch_up": "all"}  # what it held back
        passed = await sync_to_async(gate_row)("credit_officer")
        await sync_to_async(announce)(passed)
        assert (await ws.receive_json_from(timeout=WAIT))["gate_id"] == passed.gate_id
        await ws.disconnect()

    async_to_sync(scenario)()


def test_a_check_that_finds_a_role_gone_still_passes_on_a_push_of_a_role_kept(transactional_db, monkeypatch):
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0)
    officer = make_user("officer", "credit_officer", "licensed_adviser")
    ws = communicator_for(officer)

    async def scenario() -> None:
        assert (await ws.connect())[0]
        group = await sync_to_async(Group.objects.get)(name="credit_officer")
        await sync_to_async(group.user_set.through.objects.filter(group=group).delete)()  # no signal
        kept = await sync_to_async(adviser_gate)()
        await sync_to_async(announce)(kept)
        assert await ws.receive_json_from(timeout=WAIT) == {"access": "changed"}  # the page re-reads
        assert await hears(ws, kept.gate_id)
        await ws.disconnect()

    async_to_sync(scenario)()


def test_a_push_from_a_writer_of_the_release_before_names_no_group_and_is_passed_on(transactional_db):
    officer = make_user("officer", "credit_officer")
    ws = communicator_for(officer)
    layer = get_channel_layer()
    event = {"type": "gate.changed", "gate_id": "old-1--g1", "status": "pending", "role": "credit_officer"}

    async def scenario() -> None:
        assert (await ws.connect())[0]
        await layer.group_send(role_group("credit_officer"), {**event, "version": 1})
        assert await hears(ws, "old-1--g1")
        await ws.disconnect()

    async_to_sync(scenario)()


def test_a_message_sent_is_not_sent_again_when_pruning_after_it_fails(transactional_db, monkeypatch):
    layer = DatabaseChannelLayer(prune_interval=0)

    def locked() -> int:
        raise OperationalError("database is locked")

    monkeypatch.setattr(layer, "prune", locked)
    async_to_sync(layer.group_send)(role_group("credit_officer"), {"type": "gate.changed", "n": 1})

    assert LiveMessage.objects.count() == 1


def test_members_joining_a_poller_cancelled_while_it_starts_are_not_left_waiting(
    transactional_db, monkeypatch
):
    layer = DatabaseChannelLayer()
    reading = threading.Event()
    monkeypatch.setattr(layer, "_start_reading", lambda: reading.wait(5))

    async def scenario() -> int:
        joins = [
            asyncio.ensure_future(layer.group_add(role_group("credit_officer"), f"c{n}")) for n in (1, 2)
        ]
        await asyncio.sleep(0.2)
        assert layer._poller is not None
        layer._poller.cancel()  # the layer flushed, or its loop ends
        _, waiting = await asyncio.wait(joins, timeout=2)
        reading.set()
        return len(waiting)

    assert async_to_sync(scenario)() == 0


def test_a_message_for_a_group_joined_while_a_read_was_under_way_is_delivered(transactional_db, monkeypatch):
    """A read was scheduled with the groups of its moment; under load it ran after a member joined
    another group and a message for that group was sent. The read saw the message, marked it read
    and delivered it to nobody: a socket's first hint of an access change was lost so."""
    receiver = DatabaseChannelLayer(poll_interval=0.05)
    sender = DatabaseChannelLayer()
    read = receiver._read

    def slow_read() -> list[Any]:
        time.sleep(0.5)  # a busy machine
        return read()

    monkeypatch.setattr(receiver, "_read", slow_read)

    async def scenario() -> dict[str, Any]:
        first, second = await receiver.new_channel(), await receiver.new_channel()
        await receiver.group_add(role_group("credit_officer"), first)  # the poller's first read starts
        await receiver.group_add("notices.user.1", second)
        await sender.group_send("notices.user.1", {"type": "access.changed"})
        try:
            return await asyncio.wait_for(receiver.receive(second), WAIT)
        finally:
            await receiver.group_discard(role_group("credit_officer"), first)
            await receiver.group_discard("notices.user.1", second)

    assert async_to_sync(scenario)() == {"type": "access.changed"}


def test_a_quiet_socket_stays_in_its_groups_past_the_layers_group_expiry(layer_config, monkeypatch):
    """A layer forgets a group's member after its group expiry (a day by default, on both
    layers): a socket that heard no push for that long heard none after either. It now joins its
    groups afresh at each periodic check, which comes whether or not a push does."""
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.8)
    monkeypatch.setattr(consumers, "REJOIN_SECONDS", 0.5)
    config = {**layer_config.get("CONFIG", {}), "group_expiry": 2}
    if "hosts" in config:  # as the settings have it: a quiet socket's read outlasts redis-py's 5 s
        config["hosts"] = [{"address": host, "socket_timeout": 15} for host in config["hosts"]]
    forgetful = {**layer_config, "CONFIG": config}
    officer = make_user("officer", "credit_officer")
    ws = communicator_for(officer)

    async def scenario() -> None:
        assert (await ws.connect())[0]
        await asyncio.sleep(3.5)  # no push meanwhile: past the expiry of the handshake's joins
        gate = await sync_to_async(gate_row)("credit_officer")
        await sync_to_async(announce)(gate)
        assert await hears(ws, gate.gate_id)
        await ws.disconnect()

    with override_settings(CHANNEL_LAYERS={"default": forgetful}):
        try:
            async_to_sync(scenario)()
        finally:
            layer = get_channel_layer()
            if hasattr(layer, "close_pools"):
                asyncio.run_coroutine_threadsafe(layer.close_pools(), push_loop()).result(10)


def test_a_quiet_socket_whose_user_was_deactivated_behind_the_portals_back_closes_without_a_push(
    transactional_db, monkeypatch
):
    """No signal told (a bulk UPDATE) and no push came: the periodic check closes it all the same."""
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.8)
    officer = make_user("officer", "credit_officer")
    ws = communicator_for(officer)

    async def scenario() -> None:
        assert (await ws.connect())[0]
        await sync_to_async(User.objects.filter(pk=officer.pk).update)(is_active=False)
        assert await closed(ws)

    async_to_sync(scenario)()


def test_one_user_holds_at_most_so_many_sockets_in_a_process_and_a_closed_one_frees_its_place(
    transactional_db, monkeypatch
):
    """A script with one session opened sockets without end, each checked once a minute."""
    monkeypatch.setattr(consumers, "MAX_SOCKETS_PER_USER", 2)
    officer, colleague = make_user("officer", "credit_officer"), make_user("colleague", "credit_officer")
    first, second, third, fourth = (communicator_for(officer) for _ in range(4))
    theirs = communicator_for(colleague)

    async def scenario() -> None:
        assert (await first.connect())[0] and (await second.connect())[0]
        assert not (await third.connect())[0]  # refused at the handshake, before any query
        assert consumers._open_sockets[officer.pk] == 2  # the refused one never counted
        assert (await theirs.connect())[0]  # another user's are their own
        await first.disconnect()
        assert consumers._open_sockets[officer.pk] == 1
        assert (await fourth.connect())[0]
        gate = await sync_to_async(gate_row)("credit_officer")
        await sync_to_async(announce)(gate)
        assert await hears(second, gate.gate_id) and await hears(fourth, gate.gate_id)
        for ws in (second, fourth, theirs):
            await ws.disconnect()
        await third.wait()
        assert officer.pk not in consumers._open_sockets and colleague.pk not in consumers._open_sockets

    async_to_sync(scenario)()


@override_settings(CHANNEL_LAYERS={"default": DATABASE_LAYER})  # whose members the test can read
def test_a_socket_that_ends_by_an_error_after_joining_still_leaves_its_groups(transactional_db, monkeypatch):
    """A send to a browser already gone (the catch-up's, a push's) ended the consumer without its
    disconnect: its groups stayed joined for a day (found by the attacker's review)."""
    officer = make_user("officer", "credit_officer")
    ws = communicator_for(officer, query="?since=1")
    layer = get_channel_layer()

    async def gone(*args: object) -> None:
        raise RuntimeError("Unexpected ASGI message 'websocket.send', after sending 'websocket.close'")

    monkeypatch.setattr(consumers, "_missed_since", gone)

    async def scenario() -> None:
        await ws.connect()
        with pytest.raises(RuntimeError):
            await ws.wait(WAIT)
        assert not layer.groups.get(role_group("credit_officer"))
        assert officer.pk not in consumers._open_sockets

    async_to_sync(scenario)()

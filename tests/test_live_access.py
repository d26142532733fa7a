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
from django.test import Client

from reviewer_portal.accounts.session_limits import LAST_ACTIVE, LOGGED_IN_AT
from reviewer_portal.live import broadcast, consumers
from reviewer_portal.live.groups import role_group
from reviewer_portal.live.layers import DatabaseChannelLayer
from reviewer_portal.live.models import LiveMessage
from tests.conftest import make_user
from tests.test_live import (
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
    # The role's group only: an earlier test's push to a user's group, sent by its layer's thread
    # as that test ended, once landed in this test's table (CI).
    sent = LiveMessage.objects.filter(group=role_group("credit_officer"))
    assert list(sent.values_list("payload", flat=True)) == [{"type": "gate.changed", "n": 1}]


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


def test_a_push_still_on_its_way_is_waited_for_before_the_process_or_test_ends(monkeypatch):
    """A push is sent without the writer waiting; one still queued when a test ended landed in
    the next test's table (CI). `wait_for_pushes`, which the suite calls as each test ends,
    returns only once it is sent; a push stuck past its timeout is reported, not waited on forever."""
    released, sent = threading.Event(), []

    class SlowLayer:
        async def group_send(self, group: str, message: dict[str, Any]) -> None:
            await asyncio.get_running_loop().run_in_executor(None, released.wait, 5)
            sent.append(group)

    monkeypatch.setattr(broadcast, "get_channel_layer", SlowLayer)
    broadcast.push(["some-group"], {"type": "gate.changed"}, what="a test's gate")

    assert not broadcast.wait_for_pushes(timeout=0.2) and sent == []
    released.set()
    assert broadcast.wait_for_pushes(timeout=5) and sent == ["some-group"]

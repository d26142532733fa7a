"""Live updates: the /ws/gates/ consumer, the broadcast of gate changes, and the channel layers.

Each test runs on both cross-process layers where it matters: the embedded database layer and the
real channels-redis layer (Redis at REDIS_URL, else 127.0.0.1:6379; CI starts it). Two instances
of a layer stand for two processes, e.g. the worker sidecar sending and the portal receiving.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client, override_settings
from django.utils import timezone
from django.utils.module_loading import import_string

from reviewer_portal.asgi import application
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.signals import gate_changed
from reviewer_portal.live.broadcast import push_loop
from reviewer_portal.live.groups import ALL_GATES, groups_concerned, role_group
from reviewer_portal.live.layers import DatabaseChannelLayer
from reviewer_portal.live.models import LiveMessage
from tests.conftest import make_user

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
DATABASE_LAYER = {
    "BACKEND": "reviewer_portal.live.layers.DatabaseChannelLayer",
    "CONFIG": {"poll_interval": 0.05},
}
WAIT = 5  # seconds a push may take before a test calls it lost


def redis_layer_config() -> dict[str, Any]:
    url = urlsplit(REDIS_URL)
    try:
        socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379), timeout=2).close()
    except OSError as err:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({err}): start redis-server (CI's .ci/run does).")
    # A prefix of its own, so parallel runs and other tests never hear each other.
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": f"test-live-{uuid.uuid4().hex[:8]}"},
    }


@pytest.fixture(params=["database", "redis"])
def layer_config(request: pytest.FixtureRequest, transactional_db: None) -> Iterator[dict[str, Any]]:
    """The default channel layer of this test: the database layer, then channels-redis."""
    config = DATABASE_LAYER if request.param == "database" else redis_layer_config()
    with override_settings(CHANNEL_LAYERS={"default": config}):
        yield config
        layer = get_channel_layer()
        if hasattr(layer, "close_pools"):  # channels-redis: the pool the pushes opened
            asyncio.run_coroutine_threadsafe(layer.close_pools(), push_loop()).result(10)
    # This test's closed Redis pools go now, not later on a workflow's thread (see push_loop).
    gc.collect()


def gate_row(role: str = "credit_officer", **fields: Any) -> Gate:
    n = uuid.uuid4().hex[:10]
    now = timezone.now()
    values: dict[str, Any] = {
        "gate_id": f"live-{n}--g1",
        "workflow_id": f"live-{n}",
        "agent": "loans",
        "kind": "loan_decision",
        "subject": f"Applicant {n}: 10,000 over 36 months, car",
        "submitted_by": "intake",
        "recommendation": "approve",
        "rationale": "Confidential rationale that must never be pushed.",
        "model": "offline",
        "role": role,
        "sla_seconds": 3600,
        "opened_at": now,
        "deadline": now + timedelta(hours=1),
        "version": 1,
        "supervisors": ["admin"],
        **fields,
    }
    return Gate.objects.create(**values)


def compliance_gate() -> Gate:
    return gate_row("compliance_reviewer", agent="regulatory", kind="compliance_finding")


def adviser_gate() -> Gate:
    return gate_row("licensed_adviser", agent="advice", kind="advice_signoff")


def announce(gate: Gate) -> None:
    """What the projection does after committing a change of the row."""
    gate_changed.send(sender=Gate, gate=gate, created=True)


def communicator_for(
    user=None,
    *,
    origin: bytes = b"http://testserver",
    host: bytes = b"testserver",
    client: Client | None = None,
    query: str = "",
) -> WebsocketCommunicator:
    """A socket of `user`'s (signed in afresh, or in `client`'s session), from `origin`."""
    headers = [(b"origin", origin), (b"host", host)]
    if user is not None:
        if client is None:
            client = Client()
            client.force_login(user)
        session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
        headers.append((b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={session}".encode()))
    return WebsocketCommunicator(application, f"/ws/gates/{query}", headers=headers)


# --- the consumer -------------------------------------------------------------------------------


def test_anonymous_connections_are_refused(transactional_db):
    async def scenario():
        connected, _ = await communicator_for(None).connect()
        assert not connected

    async_to_sync(scenario)()


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        (b"https://evil.example", b"testserver"),
        (b"http://localhost:1234", b"localhost:8000"),  # the same host on another port
        (b"https://localhost:8000", b"localhost:8000"),  # another scheme
        (b"http://evil.example", b"evil.example"),  # a host the portal does not serve
        (b"null", b"testserver"),
    ],
    ids=["other-site", "other-port", "other-scheme", "host-not-allowed", "null-origin"],
)
def test_connections_from_another_origin_are_refused(transactional_db, origin, host):
    ws = communicator_for(make_user("officer", "credit_officer"), origin=origin, host=host)

    async def scenario():
        connected, _ = await ws.connect()
        assert not connected

    async_to_sync(scenario)()


def test_a_refused_handshake_takes_no_channel_on_the_layer(transactional_db, monkeypatch):
    """A flood of refused handshakes costs no receive on Redis or the database: each used to be a
    consumer (Channels' WebsocketDenier) waiting on a channel of its own until the loop ended it."""
    layer = get_channel_layer()
    taken: list[str] = []
    new_channel = layer.new_channel

    async def counted(*args: Any, **kwargs: Any) -> str:
        taken.append(name := await new_channel(*args, **kwargs))
        return name

    monkeypatch.setattr(layer, "new_channel", counted)
    anonymous = communicator_for(None)
    other_site = communicator_for(make_user("officer", "credit_officer"), origin=b"https://evil.example")
    signed_in = communicator_for(make_user("adviser", "licensed_adviser"))

    async def scenario() -> tuple[list[bool], bool]:
        refused = [(await ws.connect())[0] for ws in (anonymous, other_site)]
        accepted, _ = await signed_in.connect()
        await signed_in.disconnect()
        return refused, accepted

    refused, accepted = async_to_sync(scenario)()

    assert refused == [False, False] and accepted
    assert len(taken) == 1  # the signed-in reviewer's


def test_a_page_of_the_portal_on_its_own_port_connects(transactional_db):
    ws = communicator_for(
        make_user("officer", "credit_officer"), origin=b"http://localhost:8000", host=b"localhost:8000"
    )

    async def scenario():
        connected, _ = await ws.connect()
        assert connected
        await ws.disconnect()

    async_to_sync(scenario)()


def test_a_credit_officer_hears_of_their_roles_gates_only_and_never_their_content(layer_config):
    ws = communicator_for(make_user("officer", "credit_officer"))

    async def scenario():
        connected, _ = await ws.connect()
        assert connected
        try:
            other = await sync_to_async(compliance_gate)()
            await sync_to_async(announce)(other)  # first, so that a leak would arrive first
            mine = await sync_to_async(gate_row)("credit_officer")
            await sync_to_async(announce)(mine)
            pushed = await ws.receive_json_from(timeout=WAIT)
            assert pushed == {
                "gate_id": mine.gate_id,
                "status": "pending",
                "role": "credit_officer",
                "version": 1,
            }
            assert await ws.receive_nothing(timeout=0.5)
        finally:
            await ws.disconnect()

    async_to_sync(scenario)()


def test_auditors_hear_of_every_gate(layer_config):
    ws = communicator_for(make_user("auditor", "auditor"))

    async def scenario():
        connected, _ = await ws.connect()
        assert connected
        try:
            gates = [await sync_to_async(compliance_gate)(), await sync_to_async(gate_row)("credit_officer")]
            for gate in gates:
                await sync_to_async(announce)(gate)
            heard = [(await ws.receive_json_from(timeout=WAIT))["gate_id"] for _ in gates]
            # Pushes are fire-and-forget hints: two gates' pushes may arrive in either order.
            assert sorted(heard) == sorted(g.gate_id for g in gates)
            assert await ws.receive_nothing(timeout=0.5)  # once each, not once per group
        finally:
            await ws.disconnect()

    async_to_sync(scenario)()


def test_an_escalated_gate_is_announced_to_the_role_it_left_and_to_its_supervisors():
    escalated = Gate(
        gate_id="g", agent="loans", kind="loan_decision", role="senior_credit_officer",
        escalation_level=1, supervisors=["senior_credit_officer", "admin"],
    )  # fmt: skip
    assert groups_concerned(escalated) == [
        ALL_GATES,
        role_group("admin"),
        role_group("credit_officer"),
        role_group("senior_credit_officer"),
    ]
    fresh = Gate(gate_id="g", agent="loans", kind="loan_decision", role="credit_officer", supervisors=[])
    assert groups_concerned(fresh) == [ALL_GATES, role_group("credit_officer")]


class BrokenLayer(InMemoryChannelLayer):
    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        raise ConnectionError("channel layer down")


def test_a_failing_channel_layer_is_logged_and_never_fails_the_write(settings, db, caplog):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.test_live.BrokenLayer"}}
    with caplog.at_level(logging.WARNING, logger="reviewer_portal.live.broadcast"):
        announce(gate_row())  # returns at once: the push is fire-and-forget
        deadline = time.monotonic() + 5
        while "not pushed" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "not pushed" in caplog.text


# --- the layers across processes ----------------------------------------------------------------


def test_a_message_crosses_from_one_layer_instance_to_another_and_only_to_its_group(layer_config):
    sender, receiver = (_make_layer(layer_config) for _ in range(2))

    async def scenario():
        channel = await receiver.new_channel()
        await receiver.group_add("gates.role.credit_officer", channel)
        try:
            await sender.group_send("gates.role.compliance_reviewer", {"type": "gate.changed", "n": 1})
            await sender.group_send("gates.role.credit_officer", {"type": "gate.changed", "n": 2})
            message = await asyncio.wait_for(receiver.receive(channel), WAIT)
            assert message == {"type": "gate.changed", "n": 2}
        finally:
            await receiver.group_discard("gates.role.credit_officer", channel)

    async_to_sync(scenario)()


def test_the_database_layer_prunes_old_messages_and_stops_polling_without_members(transactional_db):
    sender = DatabaseChannelLayer(expiry=60, prune_interval=0)
    receiver = DatabaseChannelLayer(poll_interval=0.05)
    stale = LiveMessage.objects.create(group="gates.all", payload={"type": "gate.changed"})
    LiveMessage.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(seconds=61))

    async def scenario():
        channel = await receiver.new_channel()
        await receiver.group_add(ALL_GATES, channel)
        assert receiver.polling
        await sender.group_send(ALL_GATES, {"type": "gate.changed", "n": 1})
        # The old row was not delivered again: it was sent before this channel joined.
        assert await asyncio.wait_for(receiver.receive(channel), WAIT) == {"type": "gate.changed", "n": 1}
        await receiver.group_discard(ALL_GATES, channel)
        for _ in range(50):
            if not receiver.polling:
                break
            await asyncio.sleep(0.05)
        assert not receiver.polling

    async_to_sync(scenario)()
    assert list(LiveMessage.objects.values_list("payload", flat=True)) == [{"type": "gate.changed", "n": 1}]


def test_the_database_layer_delivers_a_message_committed_late_with_an_older_id(transactional_db):
    """PostgreSQL takes ids before commit: a row can become visible after a newer one was read."""
    receiver = DatabaseChannelLayer(poll_interval=0.05)
    create = sync_to_async(LiveMessage.objects.create)

    async def scenario():
        channel = await receiver.new_channel()
        await receiver.group_add(ALL_GATES, channel)
        try:
            last = await sync_to_async(lambda: LiveMessage.objects.order_by("pk").last())()
            base = last.pk if last else 0
            await create(pk=base + 100, group=ALL_GATES, payload={"n": "newer"})
            assert await asyncio.wait_for(receiver.receive(channel), WAIT) == {"n": "newer"}
            await create(pk=base + 50, group=ALL_GATES, payload={"n": "late"})
            assert await asyncio.wait_for(receiver.receive(channel), WAIT) == {"n": "late"}
            with pytest.raises(TimeoutError):  # each once
                await asyncio.wait_for(receiver.receive(channel), 0.5)
        finally:
            await receiver.group_discard(ALL_GATES, channel)

    async_to_sync(scenario)()


def _make_layer(config: dict[str, Any]):
    return import_string(config["BACKEND"])(**config.get("CONFIG", {}))


def test_the_default_layer_without_redis_is_the_database_layer():
    if django_settings.REDIS_URL:
        assert type(get_channel_layer()).__module__ == "channels_redis.core"
    else:
        assert isinstance(get_channel_layer(), DatabaseChannelLayer)

"""Pushes from one process reach the channel layer in the order they were made
(reviewer_portal.live.broadcast): sent side by side on the push loop, a gate's push could overtake
the access change made just before it, and reach a socket that had not left the role's group yet
(seen once in CI: tests/test_live_access.py, a role taken away by renaming its group)."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.layers import get_channel_layer
from django.test import override_settings

from reviewer_portal.live import broadcast

IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def test_a_push_slow_to_send_is_not_overtaken_by_the_next(monkeypatch):
    with override_settings(CHANNEL_LAYERS=IN_MEMORY):
        layer = get_channel_layer()
        send = layer.group_send

        async def first_one_slow(group: str, message: dict[str, Any]) -> None:
            if message["n"] == 1:
                await asyncio.sleep(0.3)  # a round trip to Redis under load
            await send(group, message)

        async def listen() -> str:
            channel = await layer.new_channel()
            for group in ("user.1", "gates.role.credit_officer"):
                await layer.group_add(group, channel)
            return channel

        channel = asyncio.run_coroutine_threadsafe(listen(), broadcast.push_loop()).result(10)
        monkeypatch.setattr(layer, "group_send", first_one_slow)
        broadcast.push(["user.1"], {"type": "access.changed", "n": 1}, what="access change")
        broadcast.push(["gates.role.credit_officer"], {"type": "gate.changed", "n": 2}, what="gate")
        assert broadcast.wait_for_pushes(10)

        async def heard() -> list[int]:
            return [(await layer.receive(channel))["n"] for _ in range(2)]

        assert asyncio.run_coroutine_threadsafe(heard(), broadcast.push_loop()).result(10) == [1, 2]


def test_pushes_given_up_while_the_layer_hangs_leave_the_line_free_for_the_next(monkeypatch, caplog):
    """A layer that hangs on a push (a Redis outage): it and the push behind it are given up at
    their timeout and logged; the line is not left held, and the next push goes."""
    monkeypatch.setattr(broadcast, "PUSH_TIMEOUT_SECONDS", 0.3)
    with override_settings(CHANNEL_LAYERS=IN_MEMORY):
        layer = get_channel_layer()
        send = layer.group_send

        async def first_one_hangs(group: str, message: dict[str, Any]) -> None:
            if message["n"] == 1:
                await asyncio.sleep(60)
            await send(group, message)

        async def listen() -> str:
            channel = await layer.new_channel()
            await layer.group_add("gates.all", channel)
            return channel

        channel = asyncio.run_coroutine_threadsafe(listen(), broadcast.push_loop()).result(10)
        monkeypatch.setattr(layer, "group_send", first_one_hangs)
        for n in (1, 2):
            broadcast.push(["gates.all"], {"type": "gate.changed", "n": n}, what=f"gate {n}")
        assert broadcast.wait_for_pushes(10)
        broadcast.push(["gates.all"], {"type": "gate.changed", "n": 3}, what="gate 3")
        assert broadcast.wait_for_pushes(10)

        async def heard() -> int:
            return (await asyncio.wait_for(layer.receive(channel), 5))["n"]

        assert asyncio.run_coroutine_threadsafe(heard(), broadcast.push_loop()).result(10) == 3
    lost = [r.getMessage() for r in caplog.records if "not pushed" in r.getMessage()]
    assert any("gate 1" in message for message in lost)

"""The WebSocket at /ws/gates/: tells a signed-in reviewer's browser that a gate changed."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth.models import AbstractBaseUser

from reviewer_portal.live.groups import groups_of, user_group

# What a browser learns: enough to know whether to re-read, never the gate's content.
PUSHED_FIELDS = ("gate_id", "status", "role", "version")


class GateChangesConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept: the handshake is refused
            return
        self.gate_groups = [*await _groups_of(user), user_group(user.pk)]
        for group in self.gate_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "gate_groups", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Browsers only listen; anything they send is ignored."""

    async def gate_changed(self, event: dict[str, Any]) -> None:
        await self.send_json({field: event[field] for field in PUSHED_FIELDS})

    async def notices_changed(self, event: dict[str, Any]) -> None:
        """The user's notifications changed: their bell re-reads its count."""
        await self.send_json({"notices": "changed"})


@database_sync_to_async
def _groups_of(user: AbstractBaseUser) -> list[str]:
    return groups_of(user)

"""The WebSocket at /ws/gates/: tells a signed-in reviewer's browser that a gate changed, for as
long as its session may hear it (reviewer_portal.live.access)."""

from __future__ import annotations

import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from reviewer_portal.live.access import groups_allowed

# What a browser learns: enough to know whether to re-read, never the gate's content.
PUSHED_FIELDS = ("gate_id", "status", "role", "version")
# A socket checks its session again when a push comes this long after its last check.
RECHECK_SECONDS = 60.0
# The close code of a socket whose session may no longer hear (the page reconnects, and the
# handshake or its next read signs it out).
SIGNED_OUT = 4001


class GateChangesConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.gate_groups: list[str] = []
        user = self.scope.get("user")
        groups = await self._allowed() if user is not None and user.is_authenticated else None
        if groups is None:
            await self.close()  # before accept: the handshake is refused
            return
        await self._join(groups)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self._join([])

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """Browsers only listen: whatever they send is dropped unread, never decoded."""

    async def gate_changed(self, event: dict[str, Any]) -> None:
        # Sent to a group this socket has just left (its roles changed): not for it any more.
        if event.get("group") in self.gate_groups and await self._still_allowed():
            await self.send_json({field: event[field] for field in PUSHED_FIELDS})

    async def notices_changed(self, event: dict[str, Any]) -> None:
        """The user's notifications changed: their bell re-reads its count."""
        if await self._still_allowed():
            await self.send_json({"notices": "changed"})

    async def access_changed(self, event: dict[str, Any]) -> None:
        """The user's roles or account changed, or a session of theirs was signed out."""
        if event.get("ended_session") and event["ended_session"] == self.scope["session"].session_key:
            await self._signed_out()
            return
        await self._check()

    async def _still_allowed(self) -> bool:
        """Whether to pass on a push: checked again first if the last check is old. A push that
        arrives as the socket's roles change is not passed on (the page re-reads anyway)."""
        if time.monotonic() < self.checked_at + RECHECK_SECONDS:
            return True
        before = self.gate_groups
        return await self._check() and self.gate_groups == before

    async def _check(self) -> bool:
        groups = await self._allowed()
        if groups is None:
            await self._signed_out()
            return False
        await self._join(groups)
        return True

    async def _allowed(self) -> list[str] | None:
        self.checked_at = time.monotonic()
        return await database_sync_to_async(groups_allowed)(
            self.scope["session"].session_key, self.scope["user"].pk
        )

    async def _join(self, groups: list[str]) -> None:
        """Be in exactly `groups`."""
        for group in set(self.gate_groups) - set(groups):
            await self.channel_layer.group_discard(group, self.channel_name)
        for group in sorted(set(groups) - set(self.gate_groups)):
            await self.channel_layer.group_add(group, self.channel_name)
        self.gate_groups = groups

    async def _signed_out(self) -> None:
        await self._join([])
        await self.close(code=SIGNED_OUT)

"""The WebSocket at /ws/gates/: tells a signed-in reviewer's browser that a gate changed, for as
long as its session may hear it (reviewer_portal.live.access)."""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from reviewer_portal.live.access import groups_allowed

logger = logging.getLogger(__name__)

# What a browser learns: enough to know whether to re-read, never the gate's content.
PUSHED_FIELDS = ("gate_id", "status", "role", "version")
# A socket checks its session again when a push comes this long after its last check (less a
# random part of it, so that the sockets of one group do not all check on the same push).
RECHECK_SECONDS = 60.0
# The close code of a socket whose session may no longer hear (the page reconnects, and the
# handshake or its next read signs it out).
SIGNED_OUT = 4001
# Checks run on a thread pool, not on the one thread every consumer of the process shares.
_groups_allowed = database_sync_to_async(groups_allowed, thread_sensitive=False)


class GateChangesConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.gate_groups: list[str] = []
        self.ended = False
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
        # Pushed to a group this socket has just left (its roles changed): not for it any more. A
        # push that names no group comes from a writer of the release before.
        if await self._still_allowed() and event.get("group", self.gate_groups[0]) in self.gate_groups:
            await self.send_json({field: event[field] for field in PUSHED_FIELDS})

    async def notices_changed(self, event: dict[str, Any]) -> None:
        """The user's notifications changed: their bell re-reads its count."""
        if await self._still_allowed():
            await self.send_json({"notices": "changed"})

    async def access_changed(self, event: dict[str, Any]) -> None:
        """The user's roles or account changed, or a session of theirs was signed out."""
        if self.ended:
            return
        if event.get("ended_session") and event["ended_session"] == self.scope["session"].session_key:
            await self._signed_out()
            return
        await self._check()

    async def _still_allowed(self) -> bool:
        """Whether to pass on a push: checked again first if the last check is old."""
        if self.ended:
            return False
        if time.monotonic() < self.next_check:
            return True
        return await self._check()

    async def _check(self) -> bool:
        """Check the session again; close the socket if it may no longer hear, and follow its
        roles if they changed (the page is told to re-read: what it shows may have changed)."""
        try:
            groups = await self._allowed()
        except Exception:  # the database is down: the socket ends, and the page reconnects later
            logger.warning("Live updates: a socket's session could not be checked; closing it", exc_info=True)
            groups = None
        if groups is None:
            await self._signed_out()
            return False
        if groups != self.gate_groups:
            await self._join(groups)
            await self.send_json({"access": "changed"})  # no gate_id: every part re-reads
        return True

    async def _allowed(self) -> list[str] | None:
        self.next_check = time.monotonic() + RECHECK_SECONDS * random.uniform(0.5, 1.0)
        session_key = self.scope["session"].session_key
        groups: list[str] | None = await _groups_allowed(session_key, self.scope["user"].pk)
        return groups

    async def _join(self, groups: list[str]) -> None:
        """Be in exactly `groups`. Meanwhile every group it may be in is recorded, so that a
        failure part-way leaves none that `disconnect` does not leave."""
        before = set(self.gate_groups)
        self.gate_groups = sorted(before | set(groups))
        for group in sorted(set(groups) - before):
            await self.channel_layer.group_add(group, self.channel_name)
        for group in before - set(groups):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.gate_groups = [*groups]

    async def _signed_out(self) -> None:
        self.ended = True
        try:
            await self._join([])
        finally:
            await self.close(code=SIGNED_OUT)

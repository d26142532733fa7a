"""The WebSocket at /ws/gates/: tells a signed-in reviewer's browser that a gate changed, for as
long as its session may hear it (reviewer_portal.live.access)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from reviewer_portal.live.access import groups_allowed
from reviewer_portal.live.catch_up import EVERYTHING, missed_since

logger = logging.getLogger(__name__)

# What a browser learns: enough to know whether to re-read, never the gate's content.
PUSHED_FIELDS = ("gate_id", "status", "role", "version")
# A socket checks its session again this long after its last check (less a random part of it, so
# that the sockets of one group do not all check at once), or at the first push after that.
RECHECK_SECONDS = 60.0
# The close code of a socket whose session may no longer hear (the page reconnects, and the
# handshake or its next read signs it out).
SIGNED_OUT = 4001
# Sockets one user may hold open in one serving process: a tab each is plenty; a script opening
# thousands with a stolen or a scripted session would make each a check a minute.
MAX_SOCKETS_PER_USER = 20
_open_sockets: Counter[Any] = Counter()  # user pk -> sockets open in this process
# Checks run on a thread pool, not on the one thread every consumer of the process shares.
_groups_allowed = database_sync_to_async(groups_allowed, thread_sensitive=False)
_missed_since = database_sync_to_async(missed_since, thread_sensitive=False)


class GateChangesConsumer(AsyncJsonWebsocketConsumer):
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.keeper: asyncio.Task[None] | None = None
        self.counted: Any = None  # the user pk this socket counts for, once accepted
        try:
            await super().__call__(scope, receive, send)
        finally:  # however the socket ended (a close, a cancelled application)
            if self.keeper is not None:
                self.keeper.cancel()
            self._uncount()

    async def connect(self) -> None:
        self.gate_groups: list[str] = []
        self.ended = False
        self.checking = asyncio.Lock()  # the periodic check and a push's are made one at a time
        user = self.scope.get("user")
        groups = await self._allowed() if user is not None and user.is_authenticated else None
        if groups is None or _open_sockets[user.pk] >= MAX_SOCKETS_PER_USER:
            if groups is not None:
                logger.warning(
                    "Live updates: user %s already holds %d sockets here; one more refused",
                    user.pk,
                    MAX_SOCKETS_PER_USER,
                )
            await self.close()  # before accept: the handshake is refused
            return
        self.counted = user.pk
        _open_sockets[user.pk] += 1
        await self._join(groups)
        await self.accept()
        await self._catch_up()
        self.keeper = asyncio.create_task(self._keep_checking(), name="live-socket-checks")

    async def disconnect(self, code: int) -> None:
        self.ended = True
        self._uncount()
        if self.keeper is not None and self.keeper is not asyncio.current_task():
            self.keeper.cancel()
        await self._join([])

    async def _catch_up(self) -> None:
        """What the page missed before this socket opened (reviewer_portal.live.catch_up)."""
        since = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("since", [""])[0]
        try:
            missed = await _missed_since(since, self.gate_groups, timezone.now())
        except Exception:  # the database is down: the page re-reads everything instead
            logger.warning("Live updates: what a page missed could not be read", exc_info=True)
            missed = [EVERYTHING] if since else []
        for hint in missed:
            await self.send_json(hint)

    def _uncount(self) -> None:
        if self.counted is not None:
            _open_sockets[self.counted] -= 1
            if _open_sockets[self.counted] <= 0:
                del _open_sockets[self.counted]
            self.counted = None

    async def _keep_checking(self) -> None:
        """Check the session when it is due even if no push comes (a quiet socket of a user
        deactivated behind the portal's back closes too), and join the groups afresh: a channel
        layer forgets a member after its group expiry, a day by default."""
        while not self.ended:
            await asyncio.sleep(max(self.next_check - time.monotonic(), 0.0))
            if time.monotonic() < self.next_check:
                continue  # a push checked meanwhile
            try:
                if await self._check():
                    for group in self.gate_groups:
                        await self.channel_layer.group_add(group, self.channel_name)
            except Exception:  # the layer is down: the socket stays, and the next check tries again
                logger.warning("Live updates: a socket could not join its groups afresh", exc_info=True)

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
        async with self.checking:
            return await self._check_now()

    async def _check_now(self) -> bool:
        if self.ended:
            return False
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

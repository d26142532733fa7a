"""The WebSocket at /ws/gates/: tells a signed-in reviewer's browser that a gate changed, for as
long as its session may hear it (reviewer_portal.live.access)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db import DatabaseError
from django.utils import timezone

from reviewer_portal.conversations.throttle import retry_after
from reviewer_portal.live.catch_up import EVERYTHING, missed_since
from reviewer_portal.live.session_checks import session_checks

logger = logging.getLogger(__name__)

# What a browser learns: enough to know whether to re-read, never the gate's content.
PUSHED_FIELDS = ("gate_id", "status", "role", "version")
# A socket checks its session again this long after its last check (less a random part of it, so
# that sockets opened together spread over the sweeps of reviewer_portal.live.session_checks),
# at the first sweep after that or at the first push, whichever comes first.
RECHECK_SECONDS = 60.0
# A check the database could not answer: the socket passes nothing on and tries again this many
# seconds later (times the failures so far); after MAX_FAILED_CHECKS in a row it is closed. A
# moment's failover does not close every socket; an outage does, in a few minutes.
RETRY_SECONDS = 10.0
MAX_FAILED_CHECKS = 3
# A channel layer forgets a group's member after its group expiry (a day by default): an open
# socket joins its groups afresh, at a check, once this long has passed since it last did.
REJOIN_SECONDS = 3600.0
# The close code of a socket whose session may no longer hear (the page reconnects, and the
# handshake or its next read signs it out).
SIGNED_OUT = 4001
# Sockets one user may hold open in one serving process: a tab each is plenty; a script opening
# thousands with a stolen or a scripted session would make each a check a minute.
MAX_SOCKETS_PER_USER = 20
# Handshakes one user may make a minute in one serving process (a page load or a reconnect each):
# a script opening and closing sockets without end would make each a query or two.
HANDSHAKES_PER_MINUTE = 60
_open_sockets: Counter[Any] = Counter()  # user pk -> sockets open (or opening) in this process
# On a thread pool, not on the one thread every consumer of the process shares.
_missed_since = database_sync_to_async(missed_since, thread_sensitive=False)
_last_warned: dict[str, float] = {}


def _warn(what: str, *args: Any, exc_info: bool = False) -> None:
    """Log `what` at most once a minute per process: a thousand sockets failing alike are one line."""
    now = time.monotonic()
    if now - _last_warned.get(what, -60.0) >= 60.0:
        _last_warned[what] = now
        logger.warning(what, *args, exc_info=exc_info)


class GateChangesConsumer(AsyncJsonWebsocketConsumer):
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.keeper: asyncio.Task[None] | None = None
        self.counted: Any = None  # the user pk this socket counts for
        self.gate_groups: list[str] = []
        self.ended = False
        try:
            await super().__call__(scope, receive, send)
        finally:  # however the socket ended: closed, cancelled, or a send to a browser gone
            self.ended = True
            if self.keeper is not None:
                self.keeper.cancel()
            self._uncount()
            if self.gate_groups:  # disconnect did not run: leave them all the same
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._join([]), 5)

    async def connect(self) -> None:
        self.checking = asyncio.Lock()  # the periodic check and a push's are made one at a time
        self.failed_checks = 0
        self.next_check = 0.0  # set by each check answered
        self.held_back = False  # a push was not passed on while the session could not be checked
        self.joined_at = time.monotonic()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept: the handshake is refused
            return
        if retry_after(f"live-handshake:{user.pk}", limit=HANDSHAKES_PER_MINUTE, window_seconds=60):
            _warn(
                "Live updates: a user opened over %d sockets in a minute here; more are refused",
                HANDSHAKES_PER_MINUTE,
            )
            await self.close()
            return
        if _open_sockets[user.pk] >= MAX_SOCKETS_PER_USER:  # before any query: refusing is cheap
            _warn(
                "Live updates: a user already holds %d sockets here; more are refused", MAX_SOCKETS_PER_USER
            )
            await self.close()
            return
        self.counted = user.pk
        _open_sockets[user.pk] += 1
        try:
            groups = await self._allowed()
        except Exception:  # the database is down: the page tries again later
            _warn("Live updates: a socket's session could not be checked; refused", exc_info=True)
            groups = None
        if groups is None:
            self._uncount()
            await self.close()
            return
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
            missed = await _missed_since(since, self.gate_groups, timezone.now(), self.scope["user"].pk)
        except DatabaseError:  # the page re-reads everything instead
            _warn("Live updates: what a page missed could not be read", exc_info=True)
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
        deactivated behind the portal's back closes too), and now and then join the groups afresh."""
        while not self.ended:
            # Due sockets wake at the process's next sweep together: their checks go in one call.
            await session_checks().sweep_after(max(self.next_check - time.monotonic(), 0.0))
            try:
                await self._check(periodic=True)
            except Exception:  # the layer is down: the socket stays, and the next check tries again
                _warn("Live updates: a socket could not join its groups afresh", exc_info=True)

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
            self.ended = True  # a check under way stops at its next step
            async with self.checking:
                await self._signed_out()
            return
        await self._check()

    async def _still_allowed(self) -> bool:
        """Whether to pass on a push: checked again first if the last check is old; nothing while
        the last check could not be made."""
        if self.ended:
            return False
        due = time.monotonic() >= self.next_check
        allowed = await self._check(if_due=True) if due else self.failed_checks == 0
        self.held_back = self.held_back or (not allowed and not self.ended)
        return allowed

    async def _check(self, *, periodic: bool = False, if_due: bool = False) -> bool:
        """Check the session again; close the socket if it may no longer hear, and follow its
        roles if they changed (the page is told to re-read: what it shows may have changed).
        `if_due` (a push's) and `periodic`: not if a check was answered while this one waited."""
        async with self.checking:
            if self.ended:  # signed out by the check this one waited for
                return False
            if (periodic or if_due) and time.monotonic() < self.next_check:
                return self.failed_checks == 0  # another check came first
            return await self._check_now(periodic=periodic)

    async def _check_now(self, *, periodic: bool) -> bool:
        """A periodic check goes in the periodic checks' calls (session_checks); it also joins
        the groups afresh when that is due."""
        if self.ended:
            return False
        try:
            groups = await self._allowed(urgent=not periodic)
        except Exception:
            return await self._check_failed()
        self.failed_checks = 0
        if self.ended:  # signed out or gone while the check was made
            return False
        if self.held_back and groups is not None:  # pushes dropped while no check could be made
            self.held_back = False
            await self.send_json(EVERYTHING)
        if groups is None:
            await self._signed_out()
            return False
        if groups != self.gate_groups:
            await self._join(groups)
            await self.send_json({"access": "changed"})  # no gate_id: every part re-reads
        elif periodic and time.monotonic() - self.joined_at >= REJOIN_SECONDS:
            for group in list(self.gate_groups):
                if self.ended:
                    return False
                await self.channel_layer.group_add(group, self.channel_name)
            self.joined_at = time.monotonic()
        return True

    async def _check_failed(self) -> bool:
        """The database could not answer: pass nothing on until a check can be made, and close
        the socket after MAX_FAILED_CHECKS in a row (the page reconnects later)."""
        self.failed_checks += 1
        if self.failed_checks >= MAX_FAILED_CHECKS:
            _warn(
                "Live updates: sockets whose session could not be checked %d times are closed",
                MAX_FAILED_CHECKS,
            )
            await self._signed_out()
            return False
        _warn("Live updates: a socket's session could not be checked; it waits", exc_info=True)
        self.next_check = time.monotonic() + RETRY_SECONDS * self.failed_checks
        return False

    async def _allowed(self, *, urgent: bool = True) -> list[str] | None:
        session_key = self.scope["session"].session_key
        groups = await session_checks().allowed(session_key, self.scope["user"].pk, urgent=urgent)
        # Once answered: until then a push is due, and waits for this answer rather than the last.
        self.next_check = time.monotonic() + RECHECK_SECONDS * random.uniform(0.5, 1.0)
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
        self.joined_at = time.monotonic()

    async def _signed_out(self) -> None:
        self.ended = True
        try:
            await self._join([])
        finally:
            await self.close(code=SIGNED_OUT)

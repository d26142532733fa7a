"""A channel layer through the project's database: the embedded cross-process default.

The portal (daphne) and the worker sidecar are separate processes, so Channels' in-memory layer
cannot carry the worker's gate changes to the portal's browsers. Without Redis, this layer does:

- `group_send` inserts one `LiveMessage` row (group, JSON payload) and, now and then, deletes rows
  older than `expiry` seconds, on a thread whose connection stays open until `send_idle` seconds
  pass without a send (reviewer_portal.live.sending). It works from any process: the worker sidecar's pushes and the
  portal's go through it alike (reviewer_portal.live.broadcast). On PostgreSQL the same
  transaction sends a NOTIFY with the group's name (reviewer_portal.live.pg_notify).
- In a process with consumers, `group_add` starts one reader per event loop. It reads, on a thread
  of its own (with one long-lived connection), the rows newer than the last it saw for the groups
  that have local members, and hands each to the in-memory layer underneath, which delivers it to
  this process's channels. It stops when the last group empties. It reads:
  - on PostgreSQL, as soon as a NOTIFY for one of its groups arrives on the process's one LISTEN
    connection (reconnected after `listen_retry` seconds if it drops, then read at once);
  - on SQLite, as soon as a cheap look at the table's highest id, every `check_interval` seconds,
    finds a row it has not read. SQLite means one machine and one file, and this is one indexed
    lookup on the reader's connection: no socket, file or cleanup to get wrong between processes;
  - and in any case every `poll_interval` seconds, the fallback when a wake-up is missed.
- `send` to a channel and `receive` stay in-process (channel names are process-specific anyway).

Delivery is at most once, like every channel layer: a page that reconnects re-reads its state.
A wake-up only says "read now"; the table stays the source of truth. Rows are read by id and, for
`lookback` seconds, by time too, so a row whose id was taken before another's but committed after
it (PostgreSQL) is still delivered, once.

Why not a package: the database layers on PyPI for Channels 4 are SQLite-only and young
(channels-lite 0.4, alpha, which also stores one row per member channel and group memberships that
outlive a crashed process for a day; channels-sqlite 0.1) or PostgreSQL-only (channels-postgres).
This layer runs on either database in one small module, and production uses channels-redis.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer
from django.db import DatabaseError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from reviewer_portal.live import pg_notify
from reviewer_portal.live.models import LiveMessage
from reviewer_portal.live.sending import SendingThread

logger = logging.getLogger(__name__)


class DatabaseChannelLayer(InMemoryChannelLayer):
    def __init__(
        self,
        *,
        expiry: int = 60,
        poll_interval: float = 0.25,
        check_interval: float = 0.02,
        listen_retry: float = 1.0,
        send_idle: float = 2.0,
        lookback: float = 2.0,
        prune_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(expiry=expiry, **kwargs)
        self.poll_interval = poll_interval
        self.check_interval = check_interval
        self.listen_retry = listen_retry
        self.lookback = timedelta(seconds=lookback)
        self.prune_interval = prune_interval
        self._next_prune = 0.0
        self._poller: asyncio.Task[None] | None = None
        self._started: asyncio.Future[None] | None = None  # the poller has read the high-water mark
        self._stopping = False  # the poller has stopped reading and is closing its connections
        self._wake = asyncio.Event()  # set by a NOTIFY for a local group: read now
        self._last_id = 0
        self._seen: set[int] = set()  # ids delivered that a lookback read may return again
        self._sender = SendingThread(idle=send_idle)
        # The poller's reads run here: one thread, so one connection kept open while it polls.
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-layer")

    # --- sending: any process -----------------------------------------------------------------

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        payload = json.loads(json.dumps(message))  # fail here, in the sender, if it isn't JSON
        await self._sender.run(self._insert, group, payload)

    def _insert(self, group: str, payload: dict[str, Any]) -> None:
        with transaction.atomic():
            LiveMessage.objects.create(group=group, payload=payload)
            if connection.vendor == "postgresql":
                pg_notify.notify(group)  # goes out at commit, when the row is there to read
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + self.prune_interval
            try:
                self.prune()
            except DatabaseError:  # the message is sent: a failed prune must not send it again
                logger.warning("Live updates: pruning old messages failed", exc_info=True)

    def prune(self) -> int:
        """Delete messages older than `expiry` seconds; returns how many."""
        cutoff = timezone.now() - timedelta(seconds=self.expiry)
        deleted, _ = LiveMessage.objects.filter(created_at__lt=cutoff).delete()
        return deleted

    # --- receiving: processes with consumers --------------------------------------------------

    async def group_add(self, group: str, channel: str) -> None:
        await super().group_add(group, channel)
        loop = asyncio.get_running_loop()
        poller = self._poller
        if poller is None or poller.done() or poller.get_loop() is not loop or self._stopping:
            # One poller however many join at once: it is made before anything is awaited.
            self._stopping = False
            self._started = loop.create_future()
            self._poller = loop.create_task(self._poll(self._started), name="live-layer-poller")
        # The high-water mark is read before this returns, so a message sent from now on arrives.
        await asyncio.shield(self._started)

    @property
    def polling(self) -> bool:
        return self._poller is not None and not self._poller.done()

    async def _poll(self, started: asyncio.Future[None]) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._reader, self._start_reading)
        except asyncio.CancelledError:
            started.cancel()  # the layer flushed, or the loop ends: the joiners are told so
            raise
        except Exception as err:  # the joiners get it; a later join starts another poller
            started.set_exception(err)
            return
        started.set_result(None)
        self._wake = asyncio.Event()
        listener = None
        if connection.vendor == "postgresql":
            listener = loop.create_task(pg_notify.listen(self._woken, retry_after=self.listen_retry))
        try:
            while any(self.groups.values()):  # a group whose members all expired is empty
                self._wake.clear()  # a NOTIFY from now on calls for another read
                try:
                    rows = await loop.run_in_executor(self._reader, self._read)
                except Exception:  # e.g. the database restarting: keep polling, on a new connection
                    logger.warning("Live updates: reading messages failed; retrying", exc_info=True)
                    await loop.run_in_executor(self._reader, _close_connection)
                    rows = []
                for group, payload in rows:
                    if self.groups.get(group):  # members now, not when the read was asked for
                        await super().group_send(group, payload)
                await self._until_next_read(loop)
        finally:
            self._stopping = True  # a member joining from now on starts a poller of its own
            if listener is not None:
                listener.cancel()
                await asyncio.wait([listener])  # its connection is closed before the loop may end
            # Not awaited: the loop may be closing. Leaves no idle connection behind (PostgreSQL
            # would refuse to drop a test database it is still connected to).
            with suppress(RuntimeError):  # the interpreter is shutting down
                self._reader.submit(_close_connection)

    def _woken(self, group: str | None) -> None:
        """From the LISTEN connection: a message for `group` was committed (None: maybe some)."""
        if group is None or group in self.groups:
            self._wake.set()

    async def _until_next_read(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait `poll_interval`, or less: until a NOTIFY, or a quick check finds a new row."""
        if connection.vendor != "sqlite" or not self.check_interval:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            return
        deadline = loop.time() + self.poll_interval
        while loop.time() < deadline and any(self.groups.values()):
            await asyncio.sleep(self.check_interval)
            try:
                if await loop.run_in_executor(self._reader, self._has_unread):
                    return
            except Exception:  # the read that follows says what is wrong, and reconnects
                return

    def _has_unread(self) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT MAX(id) FROM {connection.ops.quote_name(LiveMessage._meta.db_table)}")
            (last,) = cursor.fetchone()
        return last is not None and last > self._last_id

    def _start_reading(self) -> None:
        since = timezone.now() - self.lookback
        recent = LiveMessage.objects.filter(created_at__gte=since).values_list("pk", flat=True)
        self._seen = set(recent)
        self._last_id = LiveMessage.objects.aggregate(last=Max("pk"))["last"] or 0

    def _read(self) -> list[tuple[str, dict[str, Any]]]:
        """Messages not read yet, of every group: the poller hands on those of the groups that
        have members once the read is done (a group joined later does not get messages from
        before it joined; one joined while the read was under way gets those the read found)."""
        since = timezone.now() - self.lookback
        rows = list(
            LiveMessage.objects.filter(Q(pk__gt=self._last_id) | Q(created_at__gte=since))
            .order_by("pk")
            .values_list("pk", "group", "payload", "created_at")
        )
        fresh = [(group, payload) for pk, group, payload, _ in rows if pk not in self._seen]
        self._seen = {pk for pk, _, _, created_at in rows if created_at >= since}
        self._last_id = max([self._last_id, *(pk for pk, *_ in rows)])
        return fresh

    async def flush(self) -> None:
        await super().flush()
        if self._poller is not None and not self._poller.done():
            with suppress(RuntimeError):  # its loop is closed
                self._poller.cancel()
        self._poller = None
        await sync_to_async(LiveMessage.objects.all().delete)()


def _close_connection() -> None:
    connection.close()  # this thread's connection: call it on the thread that opened it

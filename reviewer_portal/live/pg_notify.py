"""PostgreSQL LISTEN/NOTIFY for the database channel layer: a committed message wakes its readers.

The sender notifies in the transaction that inserts the row, so the notification goes out when the
row becomes visible, never before. A reading process holds one LISTEN connection (psycopg's async
connection, on the reader's event loop) and wakes its reader for each notification. The table stays
the source of truth: a notification only says "read now", so one that is lost (the connection
dropped) costs a poll interval, never a message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from django.db import connection

logger = logging.getLogger(__name__)

CHANNEL = "reviewer_portal_live"


def notify(group: str) -> None:
    """Tell every listening process that `group` has a message (at commit, on this thread's
    connection; call it inside the transaction that inserts the row).

    The transaction commits without waiting for its WAL to reach the disk: a message is a hint
    that matters for a few seconds, which a crash of the server may lose, as Redis would."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, group])


async def listen(
    wake: Callable[[str | None], None], *, retry_after: float = 1.0, check_every: float = 30.0
) -> None:
    """Hold a LISTEN connection until cancelled: `wake(group)` for each notification, and
    `wake(None)` each time it is (re)connected, since messages may have been missed while it was
    not. A failed connection is retried after `retry_after` seconds; an idle one is checked every
    `check_every` seconds (a peer that vanished without closing the socket shows only then)."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(**_connection_params(), autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                wake(None)
                while True:
                    async for note in conn.notifies(timeout=check_every):
                        wake(note.payload)
                    await conn.execute("SELECT 1")
        except Exception:  # the poll carries on meanwhile; whatever it was, try again later
            logger.warning(
                "Live updates: the LISTEN connection failed; polling until it is back", exc_info=True
            )
        await asyncio.sleep(retry_after)


def _connection_params() -> dict[str, Any]:
    """Django's parameters for its own connections, less those for its sync cursors."""
    params = connection.get_connection_params()
    for django_only in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(django_only, None)
    return params

"""The database channel layer's sending thread: one connection kept open while messages keep coming.

`database_sync_to_async` closes its connection after every call (CONN_MAX_AGE is 0), and opening a
PostgreSQL connection starts a server process: 60 ms a send on a busy two-core machine, more than
the rest of a push together. Here the inserts run one after another on one thread that keeps its
connection, and closes it, and ends, after `idle` seconds without one, so that no connection is
held by a process that has stopped sending (PostgreSQL refuses to drop a database in use).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from django.db import DatabaseError, InterfaceError, connection


class SendingThread:
    def __init__(self, idle: float) -> None:
        self.idle = idle
        self._work: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]]
        self._work = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """`function(*args)` on the sending thread, after the calls queued before it."""
        done: Future[Any] = Future()
        self._work.put((done, function, args))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="live-layer-send", daemon=True)
                self._thread.start()
        return await asyncio.wrap_future(done)

    def _serve(self) -> None:
        try:
            while True:
                try:
                    done, function, args = self._work.get(timeout=self.idle)
                except queue.Empty:
                    with self._lock:
                        if self._work.empty():
                            self._thread = None
                            return
                    continue
                if done.set_running_or_notify_cancel():
                    try:
                        done.set_result(_once_more_if_disconnected(function, args))
                    except BaseException as err:
                        done.set_exception(err)
        finally:
            connection.close()


def _once_more_if_disconnected(function: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """`function(*args)`, again on a new connection if the kept one was broken (the database
    restarted, or dropped it): otherwise the first push after that would be lost."""
    try:
        return function(*args)
    except (DatabaseError, InterfaceError):
        connection.close()
    try:
        return function(*args)
    except (DatabaseError, InterfaceError):
        connection.close()  # the next send reconnects
        raise

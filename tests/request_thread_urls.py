"""Views the request-thread tests serve through the portal's HTTP handler (ROOT_URLCONF there).

Each says where it ran: its thread's name, and which database connection it used (an index into
`used`, and on PostgreSQL the server's process id for it)."""

from __future__ import annotations

import asyncio
import threading
import time

from asgiref.sync import sync_to_async
from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

# Set by a test: a slow view holds its thread until this is set.
release = threading.Event()
# Set by a slow view as it starts (cleared by the tests that wait for it).
entered = threading.Event()
# Every database connection a view used, in order: held here, so an id is never reused.
used: list[object] = []


def _where() -> dict[str, object]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()" if connection.vendor == "postgresql" else "SELECT 0")
        (backend,) = cursor.fetchone()
    used.append(connection.connection)
    return {
        "thread": threading.current_thread().name,
        "connection": len(used) - 1,
        "autocommit": transaction.get_autocommit(),
        "backend": backend,
    }


def where(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_where())


async def where_async(request: HttpRequest) -> JsonResponse:
    return JsonResponse(await sync_to_async(_where)())


def slow(request: HttpRequest) -> JsonResponse:
    entered.set()
    release.wait(30)
    return JsonResponse(_where())


async def slow_async(request: HttpRequest) -> JsonResponse:
    """An async view awaiting something slow, as the decision view awaits Temporal: it says so."""
    from reviewer_portal.request_threads import step_aside

    entered.set()
    step_aside()
    await asyncio.to_thread(release.wait, 30)
    return JsonResponse(await sync_to_async(_where)())


async def slow_async_unannounced(request: HttpRequest) -> JsonResponse:
    """The same, without saying it waits."""
    entered.set()
    await asyncio.to_thread(release.wait, 30)
    return JsonResponse(await sync_to_async(_where)())


def fails(request: HttpRequest) -> JsonResponse:
    raise RuntimeError("a view that fails")


BUSY_SECONDS = 0.2


def busy(request: HttpRequest) -> JsonResponse:
    """A view that keeps its thread a while and gives it back, as a burst of inbox pages does."""
    time.sleep(BUSY_SECONDS)
    return JsonResponse(_where())


# What each `span` view did and when: (thread, began, ended), on the perf_counter clock.
spans: list[tuple[str, float, float]] = []
SPAN_SECONDS = 0.4


def span(request: HttpRequest) -> JsonResponse:
    """A view that keeps its thread a while, saying when: whether requests ran side by side."""
    began = time.perf_counter()
    time.sleep(SPAN_SECONDS)
    spans.append((threading.current_thread().name, began, time.perf_counter()))
    return JsonResponse(_where())


def waits_on_temporal(request: HttpRequest) -> JsonResponse:
    """A view waiting on the client loop, as an intake waits for its start."""
    from reviewer_portal.temporal_client import run_on_client_loop

    entered.set()
    run_on_client_loop(asyncio.to_thread(release.wait, 30), timeout=60)
    return JsonResponse(_where())


def waits_on_temporal_from_the_server_loop(request: HttpRequest) -> JsonResponse:
    """A view waiting on a coroutine on the server's loop, as the audit trail reads a history."""
    from reviewer_portal.request_threads import async_to_sync_aside

    entered.set()
    async_to_sync_aside(asyncio.to_thread)(release.wait, 30)
    return JsonResponse(_where())


def leaves_a_transaction_open(request: HttpRequest) -> JsonResponse:
    """A faulty view: it opens a transaction and never ends it."""
    transaction.set_autocommit(False)
    return JsonResponse(_where())


urlpatterns = [
    path("where/", where),
    path("where-async/", where_async),
    path("slow/", slow),
    path("busy/", busy),
    path("span/", span),
    path("waits-on-temporal/", waits_on_temporal),
    path("waits-on-temporal-from-the-server-loop/", waits_on_temporal_from_the_server_loop),
    path("slow-async/", slow_async),
    path("slow-async-unannounced/", slow_async_unannounced),
    path("fails/", fails),
    path("open-transaction/", leaves_a_transaction_open),
    path("", include("reviewer_portal.urls")),  # what the portal's pages (its 500 page) link to
]

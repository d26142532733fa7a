"""The portal's HTTP handler (issue 12, the portal under a team; reviewer_portal/http_handler.py and
request_threads.py): a request borrows a long-lived thread that keeps its database connection, and
a sync view's middleware and view run as one call. Served in process through the real handler, the
real middleware and the real database; the views are tests/request_thread_urls.py.

What happens to each hazard here: a connection the database dropped is replaced before use; a
transaction a faulty view left open is closed with its connection, not carried into the next
request; a view that fails answers 500 and its thread serves on; an idle thread's connection is
closed. Threads that are held: tests/test_request_threads_held.py.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from asgiref.sync import SyncToAsync
from django.core.handlers.asgi import ASGIHandler
from django.db import connection

from reviewer_portal import request_threads
from reviewer_portal.http_handler import PortalHTTPHandler
from reviewer_portal.request_threads import RequestThreads
from tests import request_thread_urls as views
from tests.request_threads_support import LENT, get_json, in_turn, serve, threads

pytestmark = pytest.mark.django_db(transaction=True)  # the request threads have connections of their own
__all__ = ["threads"]  # the fixture


def test_requests_run_on_a_lent_thread_that_keeps_its_connection(threads):
    first, second = in_turn(PortalHTTPHandler(threads), "/where/", "/where/")
    assert first["thread"].startswith(LENT)
    assert second["thread"] == first["thread"]
    # The same connection served both: not opened and closed per request.
    assert views.used[second["connection"]] is views.used[first["connection"]]


def test_an_async_views_sync_parts_run_on_a_lent_thread_that_keeps_its_connection(threads):
    """The decision view is a coroutine: its checks and its reply run on a lent thread with its
    kept connection, where Django's handler would open a connection for each decision."""
    first, second = in_turn(PortalHTTPHandler(threads), "/where-async/", "/where-async/")
    assert first["thread"].startswith(LENT) and second["thread"] == first["thread"]
    assert views.used[second["connection"]] is views.used[first["connection"]]
    stock = in_turn(PortalHTTPHandler(None), "/where-async/", "/where-async/")
    assert views.used[stock[0]["connection"]] is not views.used[stock[1]["connection"]]


def test_without_request_threads_each_request_has_a_thread_and_connection_of_its_own(threads):
    first, second = in_turn(PortalHTTPHandler(None), "/where/", "/where/")
    assert not first["thread"].startswith(LENT) and not second["thread"].startswith(LENT)
    assert views.used[first["connection"]] is not views.used[second["connection"]]


def crossings(handler: Any, path: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """How often serving `path` crosses from the event loop to a thread."""
    counted = {"n": 0}
    cross = SyncToAsync.__call__

    async def counting(self: SyncToAsync, *args: Any, **kwargs: Any) -> Any:
        counted["n"] += 1
        return await cross(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(SyncToAsync, "__call__", counting)
        in_turn(handler, path)
    return counted["n"]


def test_a_sync_views_middleware_and_view_cross_to_their_thread_once(threads, monkeypatch):
    """Django's stock handler crosses between the event loop and the thread inside the middleware
    chain (some middleware are sync only, django-axes is async) and again for the view; the
    portal's runs the chain and the view as one call (plus the request's started signal and
    closing the reply, as Django does). Without request threads it is Django's, crossings and all."""
    stock = crossings(ASGIHandler(), "/where/", monkeypatch)
    assert crossings(PortalHTTPHandler(threads), "/where/", monkeypatch) <= 3 < stock
    assert crossings(PortalHTTPHandler(None), "/where/", monkeypatch) == stock


def test_a_connection_the_database_dropped_is_replaced_before_the_next_request_uses_it(threads):
    if connection.vendor != "postgresql":
        pytest.skip("a server that drops connections: runs in the PostgreSQL pass of .ci/run")
    (before,) = in_turn(PortalHTTPHandler(threads), "/where/")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [before["backend"]])
    (after,) = in_turn(PortalHTTPHandler(threads), "/where/")
    assert after["thread"] == before["thread"]
    assert after["backend"] != before["backend"]


def test_a_transaction_a_faulty_view_left_open_is_closed_with_its_connection(threads):
    left_open, next_request = in_turn(PortalHTTPHandler(threads), "/open-transaction/", "/where/")
    assert left_open["autocommit"] is False
    assert next_request["thread"] == left_open["thread"]
    assert next_request["autocommit"] is True
    assert views.used[next_request["connection"]] is not views.used[left_open["connection"]]


def test_a_view_that_fails_answers_500_and_its_thread_serves_the_next_request(threads):
    handler = PortalHTTPHandler(threads)
    (failed,) = serve(handler, "/fails/")
    assert failed.status_code == 500
    (after,) = in_turn(handler, "/where/")
    assert after["thread"].startswith(LENT)


def test_an_idle_threads_connection_is_closed(threads, monkeypatch):
    monkeypatch.setattr(request_threads, "IDLE_SECONDS", 2.0)
    handler = PortalHTTPHandler(threads)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        first = await get_json(handler, "/where/")
        soon = await get_json(handler, "/where/")
        await until_idle_timer_fired(threads)
        return first, soon, await get_json(handler, "/where/")

    first, soon, after_idle = asyncio.run(scenario())
    assert after_idle["thread"] == first["thread"]
    assert views.used[soon["connection"]] is views.used[first["connection"]]
    assert views.used[after_idle["connection"]] is not views.used[first["connection"]]


async def until_idle_timer_fired(threads: RequestThreads, timeout: float = 10) -> None:
    """Wait until every thread is back and idle, its idle timer run: it has been given its
    connections' closing, which it does before any request lent it next."""
    deadline = time.monotonic() + timeout
    while len(threads._idle) < threads.size or threads._idle_timers:
        assert time.monotonic() < deadline, "the idle threads' connections were never closed"
        await asyncio.sleep(0.05)


def test_after_the_threads_are_closed_requests_get_threads_of_their_own(threads):
    threads.close()
    (after,) = in_turn(PortalHTTPHandler(threads), "/where/")
    assert not after["thread"].startswith(LENT)

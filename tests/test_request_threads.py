"""The portal's HTTP handler (issue 12, the portal under a team; reviewer_portal/http_handler.py and
request_threads.py): a request borrows a long-lived thread that keeps its database connection, and
a sync view's middleware and view run as one call. Served in process through the real handler, the
real middleware and the real database; the views are tests/request_thread_urls.py.

What happens to each hazard: a connection the database dropped is replaced before use; a
transaction a faulty view left open is closed with its connection, not carried into the next
request; a view that fails answers 500 and its thread serves on; requests that find every thread
held (a slow Temporal call) get a thread of their own after a second, so nothing waits on them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from asgiref.sync import SyncToAsync
from django.core.handlers.asgi import ASGIHandler
from django.db import connection

from reviewer_portal import request_threads
from reviewer_portal.http_handler import PortalHTTPHandler
from reviewer_portal.request_threads import RequestThreads
from tests import request_thread_urls as views

pytestmark = pytest.mark.django_db(transaction=True)  # the request threads have connections of their own
LENT = "portal-request"


@pytest.fixture
def threads(settings) -> Iterator[RequestThreads]:
    settings.ROOT_URLCONF = "tests.request_thread_urls"
    views.release.clear()
    views.used.clear()
    threads = RequestThreads(1)
    yield threads
    views.release.set()
    threads.close()


def serve(handler: Any, *paths: str) -> list[httpx.Response]:
    """GET `paths` at once through `handler`, as an ASGI server would hand them over."""

    async def get_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=handler)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
            return list(await asyncio.gather(*(client.get(path) for path in paths)))

    return asyncio.run(get_all())


def in_turn(handler: Any, *paths: str) -> list[dict[str, Any]]:
    """GET `paths` one after another (one event loop, as a server's); each answer's JSON."""

    async def get_each() -> list[dict[str, Any]]:
        transport = httpx.ASGITransport(app=handler)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
            answers = []
            for path in paths:
                response = await client.get(path)
                assert response.status_code == 200, (path, response.status_code)
                answers.append(response.json())
            return answers

    return asyncio.run(get_each())


def test_requests_run_on_a_lent_thread_that_keeps_its_connection(threads):
    first, second, from_async = in_turn(PortalHTTPHandler(threads), "/where/", "/where/", "/where-async/")
    assert first["thread"].startswith(LENT)
    assert second["thread"] == first["thread"] == from_async["thread"]
    # The same connection served all three: not opened and closed per request.
    assert views.used[second["connection"]] is views.used[first["connection"]]
    assert views.used[from_async["connection"]] is views.used[first["connection"]]


def test_without_request_threads_each_request_has_a_thread_and_connection_of_its_own(threads):
    first, second = in_turn(PortalHTTPHandler(None), "/where/", "/where/")
    assert not first["thread"].startswith(LENT) and not second["thread"].startswith(LENT)
    assert views.used[first["connection"]] is not views.used[second["connection"]]


def test_a_sync_views_middleware_and_view_cross_to_their_thread_once(threads, monkeypatch):
    """Django's stock handler crosses between the event loop and the thread inside the middleware
    chain (some middleware are sync only, django-axes is async) and again for the view; the
    portal's runs the chain and the view as one call (plus the request's started signal and
    closing the reply, as Django does)."""
    crossings = {"n": 0}
    cross = SyncToAsync.__call__

    async def counted(self: SyncToAsync, *args: Any, **kwargs: Any) -> Any:
        crossings["n"] += 1
        return await cross(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)
    in_turn(PortalHTTPHandler(threads), "/where/")
    ours = crossings["n"]
    crossings["n"] = 0
    in_turn(ASGIHandler(), "/where/")
    assert ours <= 3 < crossings["n"]


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


def test_requests_finding_every_thread_held_get_their_own_and_are_not_held_up(threads, monkeypatch):
    monkeypatch.setattr(request_threads, "WAIT_SECONDS", 0.3)
    handler = PortalHTTPHandler(threads)

    async def scenario() -> tuple[httpx.Response, httpx.Response, float]:
        transport = httpx.ASGITransport(app=handler)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
            held = asyncio.create_task(client.get("/slow/"))  # holds the one thread, as an outage would
            await asyncio.sleep(0.2)
            started = time.monotonic()
            meanwhile = await client.get("/where/")
            waited = time.monotonic() - started
            views.release.set()
            return await held, meanwhile, waited

    held, meanwhile, waited = asyncio.run(scenario())
    assert meanwhile.status_code == 200 and not meanwhile.json()["thread"].startswith(LENT)
    assert waited < 5
    assert held.status_code == 200 and held.json()["thread"].startswith(LENT)
    (after,) = in_turn(handler, "/where/")
    assert after["thread"] == held.json()["thread"]  # the thread came back to be lent again


def test_a_request_that_stops_waiting_for_a_thread_leaves_every_thread_to_lend(threads):
    async def scenario() -> bool:
        async with threads.lend() as held:
            assert held is not None
            waiting = asyncio.create_task(threads.lend().__aenter__())
            await asyncio.sleep(0.05)
            waiting.cancel()  # the client went away while it waited
            with pytest.raises(asyncio.CancelledError):
                await waiting
        async with threads.lend() as again:
            return again is held

    assert asyncio.run(scenario())

"""The portal's HTTP handler (issue 12, the portal under a team; reviewer_portal/http_handler.py and
request_threads.py): a request borrows a long-lived thread that keeps its database connection, and
a sync view's middleware and view run as one call. Served in process through the real handler, the
real middleware and the real database; the views are tests/request_thread_urls.py.

What happens to each hazard: a connection the database dropped is replaced before use; a
transaction a faulty view left open is closed with its connection, not carried into the next
request; a view that fails answers 500 and its thread serves on; requests that find every thread
held (a slow Temporal call) get a thread of their own after WAIT_SECONDS; a client sending its body
slowly, or an async view awaiting Temporal, holds no thread; a thread whose request the server gave
up on while its view still ran is lent again only once the view is done; an idle thread's
connection is closed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import suppress
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
def threads(settings, monkeypatch) -> Iterator[RequestThreads]:
    settings.ROOT_URLCONF = "tests.request_thread_urls"
    # A thread comes back a moment after its request: a loaded machine must not make the next
    # request fall back to a thread of its own where a test expects the lent one.
    monkeypatch.setattr(request_threads, "WAIT_SECONDS", 10.0)
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
    first, second = in_turn(PortalHTTPHandler(threads), "/where/", "/where/")
    assert first["thread"].startswith(LENT)
    assert second["thread"] == first["thread"]
    # The same connection served both: not opened and closed per request.
    assert views.used[second["connection"]] is views.used[first["connection"]]


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


def test_requests_finding_every_thread_held_get_their_own_and_are_not_held_up(threads, monkeypatch, caplog):
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
    assert waited < 5  # not the slow view's 30 s: WAIT_SECONDS, and the request's own work
    assert held.status_code == 200 and held.json()["thread"].startswith(LENT)
    (after,) = in_turn(handler, "/where/")
    assert after["thread"] == held.json()["thread"]  # the thread came back to be lent again
    # The operator learns of it, once a minute at most.
    busy = [r.getMessage() for r in caplog.records if "request threads busy" in r.getMessage()]
    assert busy == [
        "1 request(s) found all 1 request threads busy for 0.3 s and got threads of their own (PORTAL_REQUEST_THREADS)"
    ]


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


async def get_json(handler: Any, path: str) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=handler)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
        response = await client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return response.json()


async def ignore(message: dict[str, Any]) -> None:
    pass


def http_scope(method: str, path: str, *headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
    }


def test_a_client_sending_its_body_slowly_holds_no_thread(threads):
    """Anyone, signed in or not, can send a POST's body slowly: the thread is lent once it came."""
    handler = PortalHTTPHandler(threads)
    scope = http_scope("POST", "/where/", (b"content-length", b"1000000"))

    async def scenario() -> dict[str, Any]:
        gone = asyncio.Event()

        async def dribbling() -> dict[str, Any]:
            await gone.wait()  # the rest of the body never comes; then the client goes
            return {"type": "http.disconnect"}

        dribbler = asyncio.create_task(handler(scope, dribbling, ignore))
        await asyncio.sleep(0.1)
        meanwhile = await get_json(handler, "/where/")
        gone.set()
        await dribbler
        return meanwhile

    assert asyncio.run(scenario())["thread"].startswith(LENT)  # the one thread was free


def test_an_async_view_awaiting_temporal_holds_no_thread(threads):
    handler = PortalHTTPHandler(threads)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        awaiting = asyncio.create_task(get_json(handler, "/slow-async/"))
        await asyncio.sleep(0.2)
        meanwhile = await get_json(handler, "/where/")
        views.release.set()
        return meanwhile, await awaiting

    meanwhile, awaited = asyncio.run(scenario())
    assert meanwhile["thread"].startswith(LENT)
    assert not awaited["thread"].startswith(LENT)  # Django's own thread for the async view


def test_a_thread_whose_request_the_server_gave_up_on_is_lent_again_only_once_its_view_is_done(
    threads, monkeypatch
):
    """Daphne cancels a request some seconds after its client went away, and the sync view goes on
    running: the next request must not queue behind it on that thread."""
    monkeypatch.setattr(request_threads, "WAIT_SECONDS", 0.3)
    handler = PortalHTTPHandler(threads)
    scope = http_scope("GET", "/slow/")

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        sent = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive() -> dict[str, Any]:
            if sent:
                return sent.pop()
            await asyncio.Event().wait()  # connected until cancelled
            raise AssertionError("unreachable")

        given_up = asyncio.create_task(handler(scope, receive, ignore))
        await asyncio.sleep(0.2)
        given_up.cancel()
        with suppress(asyncio.CancelledError):
            await given_up
        meanwhile = await get_json(handler, "/where/")  # the view still runs on the one thread
        views.release.set()
        monkeypatch.setattr(request_threads, "WAIT_SECONDS", 10.0)
        return meanwhile, await get_json(handler, "/where/")

    meanwhile, after = asyncio.run(scenario())
    assert not meanwhile["thread"].startswith(LENT)
    assert after["thread"].startswith(LENT)  # and back once the view was done


def test_an_idle_threads_connection_is_closed(threads, monkeypatch):
    monkeypatch.setattr(request_threads, "IDLE_SECONDS", 0.2)
    handler = PortalHTTPHandler(threads)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        first = await get_json(handler, "/where/")
        soon = await get_json(handler, "/where/")
        await asyncio.sleep(0.6)
        return first, soon, await get_json(handler, "/where/")

    first, soon, after_idle = asyncio.run(scenario())
    assert after_idle["thread"] == first["thread"]
    assert views.used[soon["connection"]] is views.used[first["connection"]]
    assert views.used[after_idle["connection"]] is not views.used[first["connection"]]


def test_after_the_threads_are_closed_requests_get_threads_of_their_own(threads):
    threads.close()
    (after,) = in_turn(PortalHTTPHandler(threads), "/where/")
    assert not after["thread"].startswith(LENT)


def test_every_request_that_got_a_thread_of_its_own_is_reported(threads, monkeypatch, caplog):
    """The first at once, the rest counted in one line a while later: an operator sizing
    PORTAL_REQUEST_THREADS sees the whole burst, not its first request."""
    monkeypatch.setattr(request_threads, "WAIT_SECONDS", 0.2)
    monkeypatch.setattr(request_threads, "REPORT_SECONDS", 0.3)
    handler = PortalHTTPHandler(threads)

    async def scenario() -> None:
        held = asyncio.create_task(get_json(handler, "/slow/"))
        await asyncio.sleep(0.2)
        await asyncio.gather(*(get_json(handler, "/where/") for _ in range(4)))
        await asyncio.sleep(0.5)
        views.release.set()
        await held

    asyncio.run(scenario())
    counts = [
        int(r.getMessage().split()[0]) for r in caplog.records if "request threads busy" in r.getMessage()
    ]
    assert counts == [1, 3]

"""Request threads that are held (issue 12; reviewer_portal/request_threads.py): what happens to
each hazard. Requests that find every thread held (a slow Temporal call) get a thread of their own
after WAIT_SECONDS, and the operator is told; a client sending its body slowly holds no thread; a thread whose request the server gave up on while its view
still ran is lent again only once the view is done; a request that stops waiting loses no thread.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from typing import Any

import httpx
import pytest

from reviewer_portal import request_thread_reports, request_threads
from reviewer_portal.http_handler import PortalHTTPHandler
from reviewer_portal.request_threads import RequestThreads
from tests import request_thread_urls as views
from tests.request_threads_support import LENT, get_json, http_scope, ignore, in_turn, threads

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.once,
]  # the request threads have connections of their own
__all__ = ["threads"]  # the fixture


@pytest.fixture(autouse=True)
def slow_view_not_entered() -> None:
    views.entered.clear()


async def slow_view_started() -> None:
    """Wait until a slow view has started (on the thread it holds, for a sync one)."""
    assert await asyncio.to_thread(views.entered.wait, 10), "the slow view never started"


def test_requests_finding_every_thread_held_get_their_own_and_are_not_held_up(threads, monkeypatch, caplog):
    monkeypatch.setattr(request_threads, "WAIT_SECONDS", 0.3)
    handler = PortalHTTPHandler(threads)

    async def scenario() -> tuple[httpx.Response, httpx.Response, float]:
        transport = httpx.ASGITransport(app=handler)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
            held = asyncio.create_task(client.get("/slow/"))  # holds the one thread, as an outage would
            await slow_view_started()
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


def test_requests_in_a_burst_wait_for_threads_that_keep_coming_back_rather_than_make_their_own(
    threads, monkeypatch, caplog
):
    """Five requests at once for the one thread, each keeping it 0.2 s: the last waits 0.8 s, more
    than WAIT_SECONDS and MAX_WAIT_SECONDS, but a thread came back every 0.2 s and none was held
    (lent MAX_WAIT_SECONDS or more), so the line moved and each got the lent thread. A thread of
    its own would only have shared the same CPU, with a new connection."""
    monkeypatch.setattr(request_threads, "WAIT_SECONDS", 0.6)
    monkeypatch.setattr(request_threads, "MAX_WAIT_SECONDS", 0.5)
    monkeypatch.setattr(request_threads, "RUNNING_SECONDS", 0.05)  # each steps aside: no other thread
    handler = PortalHTTPHandler(threads)

    async def scenario() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(get_json(handler, "/busy/") for _ in range(5))))

    started = time.monotonic()
    served = asyncio.run(scenario())
    assert time.monotonic() - started >= 5 * views.BUSY_SECONDS  # one after another
    assert [answer["thread"].startswith(LENT) for answer in served] == [True] * 5
    assert not [r for r in caplog.records if "request threads busy" in r.getMessage()]


def test_a_request_waits_in_line_no_longer_than_max_wait_however_the_line_moves(threads, monkeypatch, caplog):
    """Two threads: one held (Temporal hung), the other coming back every 0.2 s, more often than
    WAIT_SECONDS. Of six requests for it at once, those whose turn would come after MAX_WAIT_SECONDS
    get threads of their own then, since a thread is held, and the operator is told."""
    monkeypatch.setattr(request_threads, "WAIT_SECONDS", 0.45)
    monkeypatch.setattr(request_threads, "MAX_WAIT_SECONDS", 0.5)
    two = RequestThreads(2)
    handler = PortalHTTPHandler(two)

    async def scenario() -> list[dict[str, Any]]:
        held = asyncio.create_task(get_json(handler, "/slow/"))
        await slow_view_started()
        await asyncio.sleep(request_threads.MAX_WAIT_SECONDS)  # lent that long: held
        served = list(await asyncio.gather(*(get_json(handler, "/busy/") for _ in range(6))))
        views.release.set()
        await held
        return served

    try:
        served = asyncio.run(scenario())
    finally:
        two.close()
    # One after another on the one free thread, the last three would have waited 0.6-1.0 s.
    own = [answer for answer in served if not answer["thread"].startswith(LENT)]
    assert len(own) >= 2
    assert [r for r in caplog.records if "request threads busy" in r.getMessage()]


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
        await slow_view_started()
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


def test_every_request_that_got_a_thread_of_its_own_is_reported(threads, monkeypatch, caplog):
    """The first at once, the rest counted in one line a while later: an operator sizing
    PORTAL_REQUEST_THREADS sees the whole burst, not its first request."""
    monkeypatch.setattr(request_threads, "WAIT_SECONDS", 0.2)
    # Long enough that the burst's requests, started together, have all waited out WAIT_SECONDS
    # within it on a loaded machine too.
    monkeypatch.setattr(request_thread_reports, "REPORT_SECONDS", 2.0)
    handler = PortalHTTPHandler(threads)

    def counts() -> list[int]:
        return [
            int(r.getMessage().split()[0]) for r in caplog.records if "request threads busy" in r.getMessage()
        ]

    async def scenario() -> None:
        held = asyncio.create_task(get_json(handler, "/slow/"))
        await slow_view_started()
        await asyncio.gather(*(get_json(handler, "/where/") for _ in range(4)))
        deadline = time.monotonic() + 10
        while sum(counts()) < 4:  # the rest are reported REPORT_SECONDS after the first
            assert time.monotonic() < deadline, counts()
            await asyncio.sleep(0.05)
        views.release.set()
        await held

    asyncio.run(scenario())
    assert counts() == [1, 3]

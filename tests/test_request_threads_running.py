"""How many request threads run at once (issue 12, the portal under a team;
reviewer_portal/request_threads.py): at most PORTAL_RUNNING_REQUESTS of them, one by default, since
Python runs one thread at a time and requests sharing the CPU each cost more of it. A thread that
waits on something else gives its place up: at once before a wait on Temporal, otherwise after
RUNNING_SECONDS. Served in process through the real handler; the views are
tests/request_thread_urls.py.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from reviewer_portal import request_threads
from reviewer_portal.http_handler import PortalHTTPHandler
from reviewer_portal.request_threads import RequestThreads
from tests import request_thread_urls as views
from tests.request_threads_support import LENT, get_json, serve, threads

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.once,
]  # the request threads have connections of their own
__all__ = ["threads"]  # the fixture


def overlapping(spans: list[tuple[str, float, float]]) -> int:
    """How many of the views' spans began before the one before them had ended."""
    ordered = sorted(spans, key=lambda span: span[1])
    return sum(1 for before, after in itertools.pairwise(ordered) if after[1] < before[2])


@pytest.mark.parametrize("running", [1, 2])
def test_requests_run_at_most_running_at_once_though_threads_are_idle(threads, running):
    """Three requests at once, three threads: one at a time by default, each on a lent thread; with
    PORTAL_RUNNING_REQUESTS 2, side by side (which says the test can see an overlap)."""
    three = RequestThreads(3, running)
    try:
        answers = serve(PortalHTTPHandler(three), "/span/", "/span/", "/span/")
    finally:
        three.close()
    assert all(answer.json()["thread"].startswith(LENT) for answer in answers)
    assert len(views.spans) == 3
    assert (overlapping(views.spans) == 0) is (running == 1)


def while_one_waits(path: str) -> tuple[dict[str, Any], float, dict[str, Any]]:
    """Two threads: GET `path` (a view that waits until released), then /where/ meanwhile. The
    answer to /where/, how long it took, and the answer to `path` once released."""
    two = RequestThreads(2)
    handler = PortalHTTPHandler(two)

    async def scenario() -> tuple[dict[str, Any], float, dict[str, Any]]:
        waiting = asyncio.create_task(get_json(handler, path))
        await asyncio.to_thread(views.entered.wait, 10)
        began = time.monotonic()
        meanwhile = await get_json(handler, "/where/")
        waited = time.monotonic() - began
        views.release.set()
        return meanwhile, waited, await waiting

    try:
        return asyncio.run(scenario())
    finally:
        two.close()


def test_a_thread_that_runs_long_steps_aside_for_the_next_after_running_seconds(threads, monkeypatch):
    """A view held on something the portal does not know of (a locked row): the next request waits
    RUNNING_SECONDS for it, not the view's whole wait, then runs on another lent thread."""
    monkeypatch.setattr(request_threads, "RUNNING_SECONDS", 1.0)
    meanwhile, waited, held = while_one_waits("/slow/")
    assert meanwhile["thread"].startswith(LENT) and meanwhile["thread"] != held["thread"]
    assert waited >= 0.5  # its turn came when the slow view was taken to be waiting (1 s after)
    assert waited < 5  # not the slow view's 30 s


@pytest.mark.parametrize("path", ["/waits-on-temporal/", "/waits-on-temporal-from-the-server-loop/"])
def test_a_thread_waiting_on_temporal_steps_aside_at_once(threads, path):
    """A view waiting on the client loop (reviewer_portal.temporal_client) or through
    `async_to_sync_aside` says so: the next request runs at once on another lent thread, though
    RUNNING_SECONDS (10 s here) has not passed."""
    meanwhile, waited, waited_on_temporal = while_one_waits(path)
    assert meanwhile["thread"].startswith(LENT) and meanwhile["thread"] != waited_on_temporal["thread"]
    assert waited < 5


@pytest.mark.parametrize(
    ("path", "steps_aside"), [("/slow-async/", True), ("/slow-async-unannounced/", False)]
)
def test_an_async_view_awaiting_temporal_holds_its_thread_but_lets_the_next_request_run(
    threads, monkeypatch, path, steps_aside
):
    """An async view (the decision) runs its sync parts on a lent thread and keeps it while it
    awaits, as a sync view does. Saying it waits (`step_aside` on the serving loop), it lets the
    next request run at once on the other thread; without saying so, the next waits until the view
    is taken to be waiting (RUNNING_SECONDS, 1 s here): which says the test can tell the two."""
    monkeypatch.setattr(request_threads, "RUNNING_SECONDS", 1.0)
    meanwhile, waited, awaited = while_one_waits(path)
    assert awaited["thread"].startswith(LENT) and meanwhile["thread"].startswith(LENT)
    assert meanwhile["thread"] != awaited["thread"]
    assert (waited < 0.5) is steps_aside, waited
    assert waited < 5


def test_step_aside_off_a_request_does_nothing(threads):
    """Outside a request, on a thread or on a loop, there is nothing to give up."""
    request_threads.step_aside()
    asyncio.run(asyncio.to_thread(request_threads.step_aside))

    async def on_a_loop() -> None:
        request_threads.step_aside()

    asyncio.run(on_a_loop())


def test_a_request_handed_its_thread_as_it_went_away_gives_it_back(threads):
    """A request that stops waiting in the very step its thread is handed to it (the thread counted
    as running for it): the place is given back, and the next request runs at once rather than
    after RUNNING_SECONDS (10 s here)."""
    two = RequestThreads(2)

    async def scenario() -> float:
        async with two.lend() as first:
            assert first is not None
            waiting = asyncio.create_task(two.lend().__aenter__())
            await asyncio.sleep(0.05)
            assert not waiting.done()  # in line: a thread is idle, but one already runs
            (place,) = two._line
            place.add_done_callback(lambda _: waiting.cancel())  # gone as its turn comes
        with pytest.raises(asyncio.CancelledError):
            await waiting
        began = time.monotonic()
        async with two.lend() as again:
            assert again is not None
        return time.monotonic() - began

    try:
        assert asyncio.run(scenario()) < 1
    finally:
        two.close()

"""What the request-thread tests share: the threads fixture (the test URLconf, one thread) and
clients that serve requests through the real handler, as an ASGI server would hand them over."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reviewer_portal import request_threads
from reviewer_portal.request_threads import RequestThreads
from tests import request_thread_urls as views

LENT = "portal-request"  # the names of lent threads begin so


@pytest.fixture
def threads(settings, monkeypatch) -> Iterator[RequestThreads]:
    settings.ROOT_URLCONF = "tests.request_thread_urls"
    # A thread comes back a moment after its request: a loaded machine must not make the next
    # request fall back to a thread of its own where a test expects the lent one, nor let a request
    # that is merely slow be taken to be waiting.
    monkeypatch.setattr(request_threads, "WAIT_SECONDS", 10.0)
    monkeypatch.setattr(request_threads, "RUNNING_SECONDS", 10.0)
    monkeypatch.setattr(request_threads, "MAX_WAIT_SECONDS", 10.0)
    views.release.clear()
    views.used.clear()
    views.spans.clear()
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

"""Odd request paths through the portal's handler (reviewer_portal/http_handler.py), which resolves
each path once before Django does to choose how to serve it: every one is answered exactly as
Django's stock handler answers it, and none is a server error, a hang or a lent thread kept. The
same paths as raw bytes over a real socket: tests/test_serve_portal.py."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler

from reviewer_portal import request_threads
from reviewer_portal.http_handler import PortalHTTPHandler
from reviewer_portal.request_threads import RequestThreads
from tests.request_threads_support import http_scope

pytestmark = pytest.mark.once  # nothing here depends on the database or channel layer: CI runs it in one pass

ODD_PATHS = [
    "/\x00",  # a NUL, as a server hands over a decoded %00
    "/gates/\x00/decide/",
    "/gates/%00/decide/",
    "/gates/\u202egate/decide/",  # right-to-left override
    "/gates/\ufffd\ufffd\ufffd/decide/",  # %ED%A0%80 (a lone surrogate), as servers decode it
    "/gates/ga\u0301te/decide/",  # a combining accent
    "/gates/" + "g" * 10_000 + "/decide/",
    "/gates/../admin/",
    "//gates//decide//",
    "/gates/gate-1/decide",  # no trailing slash: CommonMiddleware's redirect
    "/audit/\U0001f600/",
    "/%",
    "/gates/gate-1/decide/?x=\x00",
]


async def answer(handler: Any, method: str, path: str) -> tuple[int, bytes]:
    """The status and Location of `method path` through `handler`, its body empty."""
    messages: list[dict[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            await asyncio.sleep(3600)  # the client stays: no disconnect
        received = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        **http_scope(method, path),
        "raw_path": path.encode("utf-8", "surrogatepass"),
        "root_path": "",
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    await asyncio.wait_for(handler(scope, receive, send), timeout=30)
    start = next(m for m in messages if m["type"] == "http.response.start")
    location = dict(start["headers"]).get(b"Location", b"")
    return start["status"], location


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_odd_paths_are_answered_as_django_answers_them(method, caplog, monkeypatch):
    # A thread comes back a moment after its request: on a loaded machine, later than the 0.1 s a
    # request waits for one in production. Only a thread never given back should be "busy" here.
    monkeypatch.setattr(request_threads, "WAIT_SECONDS", 10.0)
    monkeypatch.setattr(request_threads, "RUNNING_SECONDS", 10.0)
    monkeypatch.setattr(request_threads, "MAX_WAIT_SECONDS", 10.0)
    threads = RequestThreads(1)
    portal, stock = PortalHTTPHandler(threads), ASGIHandler()

    async def through(handler: Any) -> list[tuple[int, bytes]]:  # one loop, as a server's
        return [await answer(handler, method, path) for path in [*ODD_PATHS, "/accounts/login/"]]

    try:
        with caplog.at_level(logging.WARNING, logger="reviewer_portal.request_threads"):
            ours = asyncio.run(through(portal))
        theirs = asyncio.run(through(stock))
    finally:
        threads.close()
    for path, mine, django in zip([*ODD_PATHS, "login"], ours, theirs, strict=True):
        assert mine == django, (path[:40], mine, django)
        assert mine[0] < 500, (path[:40], mine)
    # Every request gave its one thread back: none found it busy and took a thread of its own.
    assert "request threads busy" not in caplog.text

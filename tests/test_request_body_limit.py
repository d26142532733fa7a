"""A request body past PORTAL_MAX_BODY_BYTES (reviewer_portal/http_handler.py): Django spools any
body whole to disk before a view or a form could refuse it, so anyone, signed in or not, could fill
the portal's disk. Such a body is answered 413 as soon as it is known to be too large, declared or
received, and not read on; nothing reaches a view. A body within the limit is served as before."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reviewer_portal.http_handler import PortalHTTPHandler
from tests.request_threads_support import http_scope, threads

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.once,
]  # nothing here depends on the database or channel layer: CI runs it in one pass
__all__ = ["threads"]  # the fixture

LIMIT = 64 * 1024
CHUNK = 16 * 1024


@pytest.fixture(autouse=True)
def small_limit(settings) -> None:
    settings.PORTAL_MAX_BODY_BYTES = LIMIT


def post(handler: Any, path: str, chunks: int, *headers: tuple[bytes, bytes]) -> tuple[int, int, bytes]:
    """POST `chunks` chunks of CHUNK bytes (the last says no more follow) through `handler`, as an
    ASGI server hands them over; the status, how many chunks the handler read, and the body."""
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        if read > chunks:
            await asyncio.sleep(3600)  # the client waits for its answer
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": read < chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(handler(http_scope("POST", path, *headers), receive, send), 30))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], read, body


@pytest.mark.parametrize("lent", [True, False], ids=["request threads", "django's handler"])
def test_a_body_past_the_limit_is_answered_413_and_not_read_on(threads, lent):
    handler = PortalHTTPHandler(threads if lent else None)
    status, read, body = post(handler, "/accounts/login/", 1000)
    assert status == 413
    assert read <= LIMIT // CHUNK + 1  # stopped at the first chunk past the limit, not 1000
    assert b"larger than the portal accepts" in body


def test_a_body_declared_too_large_is_refused_before_any_of_it_is_read(threads):
    declared = str(LIMIT + 1).encode()
    status, read, _ = post(PortalHTTPHandler(threads), "/accounts/login/", 1, (b"content-length", declared))
    assert (status, read) == (413, 0)
    status, read, _ = post(PortalHTTPHandler(threads), "/accounts/login/", 1, (b"content-length", b"-1"))
    assert (status, read) == (413, 0)  # not a length: not read either
    # Lengths Python's int() refuses to read (over 4,300 digits): no 500 either way.
    nines = b"9" * 5000
    status, read, _ = post(PortalHTTPHandler(threads), "/accounts/login/", 1, (b"content-length", nines))
    assert (status, read) == (413, 0)
    one = b"0" * 5000 + b"1"  # 1, written long: served like any other
    status, _, _ = post(PortalHTTPHandler(threads), "/accounts/login/", 1, (b"content-length", one))
    assert status == 403  # the login form without its CSRF cookie


def test_a_body_within_the_limit_reaches_the_view(threads):
    """The login view answers a form it cannot read with its page again (no CSRF cookie: 403), not 413."""
    status, read, _ = post(PortalHTTPHandler(threads), "/accounts/login/", LIMIT // CHUNK)
    assert status == 403 and read > LIMIT // CHUNK  # all of it (then Django listens for a disconnect)

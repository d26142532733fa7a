"""The portal's ASGI handler for HTTP: Django's, with two costs of its request cycle taken out for
sync views, and a bound on the request body.

1. The thread. Django makes each request a thread and a database connection of its own. Here a
   request to a sync view, once its body has arrived, borrows a long-lived thread that keeps its
   connections (reviewer_portal.request_threads): everything thread-sensitive in the request
   still runs on that one thread, in order, as before. A client sending its body slowly holds no
   thread meanwhile.
2. The crossings. Django's ASGI handler runs the middleware in async mode: the first ones on the
   event loop, then (WhiteNoise and our session limits are sync only) the rest on the thread, back
   to the loop for django-axes, and to the thread again for a sync view. This handler runs the
   whole middleware chain and a sync view as one sync call on the request's thread, as a WSGI
   server would: 3 crossings a request instead of 5, and each crossing costs more than its share
   (measured with the request threads either way: an unchanged inbox poll 4.8 -> 3.1 ms of CPU).

3. The body. Django spools any request body whole, to disk past 2.5 MB, before a view or a form
   could refuse it: anyone, signed in or not, could fill the disk. A body declared or received
   past PORTAL_MAX_BODY_BYTES is answered 413 and not read on.

A view written as a coroutine (the decision view, which awaits Temporal and must notice a reviewer
who goes away) keeps Django's async chain, crossings and all, but its sync parts run on a lent
thread too, with its kept connection: Django's own would open a database connection for every
decision (on PostgreSQL, a new server process to authenticate). It holds that thread while it
awaits Temporal, as a sync view does, and steps aside (reviewer_portal.request_threads) so the
next request runs meanwhile. Everything else is Django's: reading the body, the request's signals,
a client that goes away, sending the reply and closing it afterwards on the request's thread.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import IO, Any

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.defaultfilters import filesizeformat
from django.urls import Resolver404, get_resolver

from reviewer_portal.request_threads import RequestThreads

# Set in the scope of a request this handler serves with its sync chain.
SYNC_CHAIN = "reviewer_portal.sync_chain"


@dataclass(frozen=True)
class _BodyRead:
    """The server's `receive`, for a request whose body was read before it got its thread."""

    body: IO[bytes]
    receive: Callable[[], Awaitable[dict[str, Any]]]

    async def __call__(self) -> dict[str, Any]:
        return await self.receive()  # what comes after the body: a client that goes away


class PortalHTTPHandler(ASGIHandler):
    def __init__(self, threads: RequestThreads | None) -> None:
        """`threads`: the request threads to lend. None serves every request as Django does."""
        super().__init__()  # loads the async chain, for async views
        self.threads = threads
        self._sync = BaseHandler()
        self._sync.load_middleware(is_async=False)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            await self._serve(scope, receive, send)
        except BodyTooLarge:
            await self.send_response(_too_large(), send)

    async def _serve(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and _declared_too_large(scope):
            raise BodyTooLarge()
        if scope["type"] != "http" or self.threads is None:
            return await super().__call__(scope, receive, send)
        try:
            body = await self.read_body(receive)
        except RequestAborted:
            return
        if not _to_async_view(scope):
            scope = {**scope, SYNC_CHAIN: True}
        async with self.threads.lend() as thread:
            # No thread free in time: one of its own, as Django gives.
            context = ThreadSensitiveContext() if thread is None else ThreadSensitiveContext(executor=thread)
            async with context:
                await self.handle(scope, _BodyRead(body, receive), send)

    async def read_body(self, receive: Any) -> IO[bytes]:
        """Django's, refusing a body past PORTAL_MAX_BODY_BYTES as soon as it is known to be one:
        Django spools any body whole to disk before a view or a form could refuse it."""
        if isinstance(receive, _BodyRead):
            return receive.body
        limit = settings.PORTAL_MAX_BODY_BYTES
        # Handed on open, as Django's is: the request closes it.
        body = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b")  # noqa: SIM115
        received = 0
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise RequestAborted()
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    raise BodyTooLarge()
                body.write(chunk)
                if not message.get("more_body", False):
                    break
        except BaseException:
            body.close()
            raise
        body.seek(0)
        return body

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        if not getattr(request, "scope", {}).get(SYNC_CHAIN):
            return await super().get_response_async(request)
        return await sync_to_async(self._sync.get_response, thread_sensitive=True)(request)


class BodyTooLarge(Exception):
    """A request's body (declared or received) passed PORTAL_MAX_BODY_BYTES."""


def _too_large() -> HttpResponse:
    limit = filesizeformat(settings.PORTAL_MAX_BODY_BYTES)
    response = HttpResponse(
        f"This request is larger than the portal accepts ({limit} at most), so it was not read."
        " A document upload may be at most 5 MB.\n",
        status=413,
        content_type="text/plain; charset=utf-8",
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _declared_too_large(scope: dict[str, Any]) -> bool:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            # More digits than any limit has is too large (int() of thousands of digits raises).
            limit = settings.PORTAL_MAX_BODY_BYTES
            digits = value.lstrip(b"0") or b"0"
            return not value.isdigit() or len(digits) > len(str(limit)) or int(digits) > limit
    return False


def _to_async_view(scope: dict[str, Any]) -> bool:
    """Whether the request's path resolves to a view that is a coroutine function. A path that
    resolves to nothing is not (its 404, or CommonMiddleware's redirect to the path with a slash)."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    try:
        match = get_resolver().resolve(path)
    except Resolver404:
        return False
    return iscoroutinefunction(match.func)

"""The portal's ASGI handler for HTTP: Django's, with two costs of its request cycle taken out.

1. The thread. Django makes each request a thread and a database connection of its own. Here a
   request borrows a long-lived one that keeps its connections (reviewer_portal.request_threads):
   everything thread-sensitive in the request still runs on that one thread, in order, as before.
2. The crossings. Django's ASGI handler runs the middleware in async mode: the first ones on the
   event loop, then (WhiteNoise and our session limits are sync only) the rest on the thread, back
   to the loop for django-axes, and to the thread again for a sync view. For a sync view this
   handler runs the whole middleware chain and the view as one sync call on the request's thread,
   as a WSGI server would: 3 crossings a request instead of 5, and each crossing costs more than
   its share (an unchanged inbox poll 4.8 -> 3.1 ms of CPU, the README's figures). A view written
   as a coroutine (the decision view, which must notice a reviewer who goes away) keeps Django's
   async chain, unchanged.

Everything else is Django's: reading the body, the request's signals, a client that goes away,
sending the reply and closing it afterwards on the request's thread.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponseBase
from django.urls import Resolver404, get_resolver

from reviewer_portal.request_threads import RequestThreads


class PortalHTTPHandler(ASGIHandler):
    def __init__(self, threads: RequestThreads | None) -> None:
        """`threads`: the request threads to lend; None gives each request a thread of its own,
        as Django does."""
        super().__init__()  # loads the async chain, for async views
        self._sync = BaseHandler()
        self._sync.load_middleware(is_async=False)
        self.threads = threads

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.threads is None:
            return await super().__call__(scope, receive, send)
        async with self.threads.lend() as thread:
            if thread is None:  # every thread busy: one of its own, as Django gives
                return await super().__call__(scope, receive, send)
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        if _view_is_async(request):
            return await super().get_response_async(request)
        return await sync_to_async(self._sync.get_response, thread_sensitive=True)(request)


def _view_is_async(request: HttpRequest) -> bool:
    """Whether the path's view is a coroutine function. A path that resolves to nothing takes the
    sync chain (its 404, or CommonMiddleware's redirect to the path with a slash)."""
    try:
        match = get_resolver().resolve(request.path_info)
    except Resolver404:
        return False
    return iscoroutinefunction(match.func)

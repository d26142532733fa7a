"""The portal's ASGI application, with a path that holds the serving process's event loop, as a
library call that never returns would: for tests/test_serve_portal_loop_watch.py only
(`serve_portal --app tests.loop_stalling_app:application`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from reviewer_portal.asgi import application as portal

STALL_PATH = "/stall-the-loop/"


async def application(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    if scope["type"] == "http" and scope["path"] == STALL_PATH:
        time.sleep(3600)  # on the event loop itself: nothing else in this process is served
    await portal(scope, receive, send)

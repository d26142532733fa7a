"""The portal's ASGI application with its decisions timed in parts, for
`python benchmarks/decision_latency.py --parts`.

Served in the portal's own process instead of `reviewer_portal.asgi:application`, it times every
POST to /gates/<id>/decide/ and appends one JSON object per decision, the parts that
benchmarks/decision_parts.py describes and reads, in milliseconds, to the file named by
DECISION_PARTS_FILE.
"""

from __future__ import annotations

import contextvars
import json
import os
import time
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from benchmarks.decision_parts import FILE_VARIABLE, PARTS
from reviewer_portal.asgi import application as portal
from reviewer_portal.inbox import decide_views

_parts: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar("parts", default=None)


def _timed_sync(part: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        parts = _parts.get()
        if parts is not None and part == "checks":
            parts["arrival to view"] = (began - parts["arrived"]) * 1000
        try:
            return function(*args, **kwargs)
        finally:
            if parts is not None:
                parts[part] = (time.perf_counter() - began) * 1000

    return timed


def _timed_async(part: str, function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @wraps(function)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return await function(*args, **kwargs)
        finally:
            if (parts := _parts.get()) is not None:
                parts[part] = (time.perf_counter() - began) * 1000

    return timed


decide_views._check_and_record = _timed_sync("checks", decide_views._check_and_record)  # type: ignore[assignment]
decide_views._answered = _timed_sync("reply", decide_views._answered)  # type: ignore[assignment]
decide_views.send_async = _timed_async("update", decide_views.send_async)  # type: ignore[assignment]


async def application(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    if scope["type"] != "http" or not scope["path"].endswith("/decide/"):
        return await portal(scope, receive, send)
    parts = {"arrived": time.perf_counter()}
    _parts.set(parts)  # this request's task, and the threads it hops to, see the same dict

    async def timed_send(message: dict[str, Any]) -> None:
        await send(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            parts["last byte"] = (time.perf_counter() - parts["arrived"]) * 1000
            _write(parts)

    await portal(scope, receive, timed_send)


def _write(parts: dict[str, float]) -> None:
    with open(os.environ[FILE_VARIABLE], "a") as out:
        out.write(json.dumps({part: parts.get(part) for part in PARTS}) + "\n")

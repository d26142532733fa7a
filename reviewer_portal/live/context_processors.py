"""The stamp a page gives its socket, so that the socket's first messages are what the page missed
before it opened (reviewer_portal.live.catch_up)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from reviewer_portal.live.catch_up import page_stamp


def live(request: HttpRequest) -> dict[str, object]:
    return {"live_since": page_stamp(timezone.now())}

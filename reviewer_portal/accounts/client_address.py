"""The address a request really came from, for login lockouts. Behind PROXY_COUNT proxies, each
appends the address it saw to X-Forwarded-For, so the client's is the PROXY_COUNT-th from the
right; everything left of it was written by the client and proves nothing. (`daphne
--proxy-headers` and django-ipware's defaults take the left-most, which a sprayer forges.)"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    if settings.PROXY_COUNT <= 0:
        return remote
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    if len(forwarded) < settings.PROXY_COUNT:
        # Fewer hops than proxies: the request skipped a proxy; the nearest hop is all we know.
        return forwarded[0] if forwarded else remote
    return forwarded[-settings.PROXY_COUNT]

"""WebSockets from the portal's own pages only: the Origin must be exactly the address the
connection came to, port included (Channels' AllowedHostsOriginValidator ignores the port, so a
page on http://localhost:1234 could open a socket to the portal on :8000), and that host must be
one of ALLOWED_HOSTS."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from reviewer_portal.live.handshake import refuse_handshake

DEFAULT_PORTS = {"http": "80", "https": "443"}


class SameOriginValidator:
    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        secure = scope.get("scheme") == "wss"  # behind a TLS proxy: daphne --proxy-headers
        if scope["type"] == "websocket" and not same_origin(dict(scope.get("headers", [])), secure=secure):
            return await refuse_handshake(scope, receive, send)
        return await self.application(scope, receive, send)


def same_origin(headers: dict[bytes, bytes], *, secure: bool) -> bool:
    origin = urlsplit(headers.get(b"origin", b"").decode("latin-1").lower())
    host = headers.get(b"host", b"").decode("latin-1").lower()
    if origin.scheme != ("https" if secure else "http") or not origin.hostname or not host:
        return False
    domain, port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    try:
        origin_port = str(origin.port) if origin.port else DEFAULT_PORTS[origin.scheme]
    except ValueError:  # a port that is not one ("http://host:abc", ":99999")
        return False
    # An IPv6 host keeps its brackets in Host ("[::1]:8000"); the Origin's hostname loses them.
    same_host = origin.hostname == domain.removeprefix("[").removesuffix("]")
    return same_host and origin_port == (port or DEFAULT_PORTS[origin.scheme])

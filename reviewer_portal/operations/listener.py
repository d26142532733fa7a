"""The listening socket the portal's processes share (management command serve_portal)."""

from __future__ import annotations

import socket


def tcp_listener(host: str, port: int) -> socket.socket:
    """A bound TCP socket that says it is TCP (proto IPPROTO_TCP), inheritable by the serving
    processes. Sockets accepted from it carry the same protocol, which is what asyncio checks
    before it turns Nagle's algorithm off on each connection (TCP_NODELAY).

    An IPv6 address listens on IPv6 only: a dual-stack socket would show an IPv4 proxy as
    `::ffff:a.b.c.d`, which matches no IPv4 address in --forwarded-allow-ips, so every client
    would get the proxy's address (and share its login lockouts)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if family == socket.AF_INET6:
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener


def url_of(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    return f"http://[{host}]:{port}" if listener.family == socket.AF_INET6 else f"http://{host}:{port}"

"""The listening socket the portal's processes share (management command serve_portal)."""

from __future__ import annotations

import socket


def tcp_listener(host: str, port: int) -> socket.socket:
    """A bound TCP socket that says it is TCP (proto IPPROTO_TCP), inheritable by the serving
    processes. Sockets accepted from it carry the same protocol, which is what asyncio checks
    before it turns Nagle's algorithm off on each connection (TCP_NODELAY)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener

"""The listening sockets of the portal's processes (management command serve_portal)."""

from __future__ import annotations

import socket


def tcp_listener(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A bound TCP socket that says it is TCP (proto IPPROTO_TCP), inheritable by the serving
    processes. Sockets accepted from it carry the same protocol, which is what asyncio checks
    before it turns Nagle's algorithm off on each connection (TCP_NODELAY).

    An IPv6 address listens on IPv6 only: a dual-stack socket would show an IPv4 proxy as
    `::ffff:a.b.c.d`, which matches no IPv4 address in --forwarded-allow-ips, so every client
    would get the proxy's address (and share its login lockouts).

    `reuse_port`: other sockets of this user may bind the same port too (SO_REUSEPORT), and the
    kernel spreads new connections across them (reviewer_portal.operations.supervisor)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if family == socket.AF_INET6:
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener


def tcp_listeners(host: str, port: int, count: int, backlog: int) -> list[socket.socket]:
    """`count` listening sockets on one port, each for a process of its own, the kernel spreading
    connections across them (SO_REUSEPORT); port 0: a free one. The port is first taken with a
    plain socket, so a port another server listens on, even with SO_REUSEPORT, is refused as in
    use (an old deployment still running), never silently shared. Each socket listens at once:
    bound but not listening, it would neither take connections nor make the next probe fail."""
    with tcp_listener(host, port) as probe:
        port = probe.getsockname()[1]
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(tcp_listener(host, port, reuse_port=True))
            sockets[-1].listen(backlog)
    except OSError:
        for opened in sockets:
            opened.close()
        raise
    return sockets


def url_of(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    return f"http://[{host}]:{port}" if listener.family == socket.AF_INET6 else f"http://{host}:{port}"

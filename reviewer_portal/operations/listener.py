"""The listening socket the portal's processes share (management command serve_portal)."""

from __future__ import annotations

import socket


def tcp_listener(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A bound TCP socket that says it is TCP (proto IPPROTO_TCP), inheritable by the serving
    processes. Sockets accepted from it carry the same protocol, which is what asyncio checks
    before it turns Nagle's algorithm off on each connection (TCP_NODELAY).

    An IPv6 address listens on IPv6 only: a dual-stack socket would show an IPv4 proxy as
    `::ffff:a.b.c.d`, which matches no IPv4 address in --forwarded-allow-ips, so every client
    would get the proxy's address (and share its login lockouts).

    `reuse_port`: a ProcessListeners, which gives each process it is passed to a listener of its
    own on the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = ProcessListeners if reuse_port else socket.socket
    listener = kind(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
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


def url_of(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    return f"http://[{host}]:{port}" if listener.family == socket.AF_INET6 else f"http://{host}:{port}"


class ProcessListeners(socket.socket):
    """The port, held by the supervisor, that gives each serving process a listener of its own
    (`serve_portal --reuse-port`).

    With one listening socket shared by the processes, whichever wakes first accepts a whole
    burst (asyncio accepts up to 2,048 connections at each wake-up): 50 reviewers' connections
    opened at once all went to one of two processes, which served them on one core while the
    other idled, and a kept-alive connection never moves. Here the supervisor binds the port
    (SO_REUSEPORT) and never listens on it; a process this socket is passed to (pickled to the
    process it spawns) gets instead a new socket of its own, bound to the same address in the
    same group, on which it listens, and the kernel spreads new connections over the group.

    The price: a connection waiting to be accepted by a process that stops (a restart, a crash)
    is reset, where one shared queue would hand it to another process; Linux 5.14 and later
    hand it over too with `sysctl net.ipv4.tcp_migrate_req=1`. Only processes of the same user
    can join the group.
    """

    def __reduce__(self) -> tuple[object, tuple[str, int]]:
        host, port = self.getsockname()[:2]
        return _own_listener, (host, port)


def _own_listener(host: str, port: int) -> socket.socket:
    """In a serving process: a listener of its own in the supervisor's group."""
    group = tcp_listener(host, port, reuse_port=True)
    return socket.socket(group.family, group.type, group.proto, fileno=group.detach())

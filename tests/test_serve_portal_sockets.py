"""`serve_portal`'s processes each accept on a listening socket of their own (issue 12, the portal
under a team; reviewer_portal/operations/supervisor.py, listener.py). With one socket shared, a
burst of connections went 19 to 1 between two processes, and kept-alive connections stay where
they were accepted. What happens to each hazard: a process that dies is replaced on its socket and
the connections that reach that socket meanwhile wait for it, never refused; SIGHUP replaces the
processes one by one while every request is answered; a port another server holds, even with
SO_REUSEPORT, is refused as in use rather than shared; SIGTTIN and SIGTTOU change nothing."""

from __future__ import annotations

import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from reviewer_portal.operations.listener import tcp_listener, tcp_listeners
from tests.processes import HOST
from tests.test_serve_portal import (
    alive,
    established_by_process,
    kept_alive_after_a_get,
    manage,
    served,
    workers,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.once,
]  # nothing here depends on the database or channel layer: CI runs it in one pass


def status_of_a_fresh_connection(port: int) -> int:
    """GET /accounts/login/ on a connection of its own: its status code."""
    with socket.create_connection((HOST, port), timeout=60) as connection:
        connection.sendall(
            b"GET /accounts/login/ HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\nConnection: close\r\n\r\n"
        )
        head = connection.recv(64)
    return int(head.split(b" ", 2)[1])


def test_connections_opened_together_are_spread_across_the_processes(tmp_path):
    """40 connections at once: each process holds some (all 40 on one side by chance: about one
    run in 10^12; with the shared socket, 19 to 1 was usual)."""
    with served(tmp_path) as (_server, port, serving):
        opened = [socket.create_connection((HOST, port), timeout=10) for _ in range(40)]
        try:
            deadline = time.monotonic() + 10
            while sum((held := established_by_process(port, serving)).values()) < 40:
                assert time.monotonic() < deadline, held
                time.sleep(0.1)
        finally:
            for connection in opened:
                connection.close()
    assert min(held.values()) >= 5, held


def test_a_process_killed_is_replaced_on_its_socket_and_no_connection_is_refused(tmp_path):
    """Connections opened while a process is dead: about half reach its socket, wait there for its
    successor, and are answered by it (with the socket closed they would be refused, or all go to
    the other process)."""
    with served(tmp_path) as (server, port, serving):
        killed = serving[0]
        os.kill(killed, signal.SIGKILL)
        with ThreadPoolExecutor(30) as pool:
            kept = list(pool.map(lambda _: kept_alive_after_a_get(port), range(30)))
        try:
            assert [status for status, _ in kept] == [200] * 30
            now = workers(server.pid)
            assert len(now) == 2 and killed not in now and not alive(killed)
            (successor,) = set(now) - set(serving)
            assert established_by_process(port, [successor])[successor] >= 1
        finally:
            for _, connection in kept:
                connection.close()


def test_sighup_replaces_the_processes_one_by_one_while_every_request_is_answered(tmp_path):
    with served(tmp_path) as (server, port, serving):
        server.send_signal(signal.SIGHUP)
        statuses = []
        deadline = time.monotonic() + 150  # each successor may take READY_SECONDS
        while set(workers(server.pid)) & set(serving) or len(workers(server.pid)) < 2:
            assert time.monotonic() < deadline, workers(server.pid)
            statuses.append(status_of_a_fresh_connection(port))
        assert statuses and set(statuses) == {200}
        assert status_of_a_fresh_connection(port) == 200


def test_sigttin_and_sigttou_leave_the_processes_as_they_are(tmp_path):
    with served(tmp_path) as (server, port, serving):
        server.send_signal(signal.SIGTTIN)
        server.send_signal(signal.SIGTTOU)
        time.sleep(1.5)  # the supervisor looks at its signals every 0.5 s
        assert sorted(workers(server.pid)) == sorted(serving)
        assert status_of_a_fresh_connection(port) == 200
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    log = (tmp_path / "serve.log").read_text()
    assert "Received SIGTTIN: serve_portal keeps its --processes" in log
    assert "Received SIGTTOU: serve_portal keeps its --processes" in log


def test_a_port_another_server_holds_with_so_reuseport_is_refused_not_shared():
    """A deployment still running on the port (its sockets joined with SO_REUSEPORT) must make the
    new one fail, as a plain socket would: sharing would send some reviewers to the old code."""
    with tcp_listener(HOST, 0, reuse_port=True) as old:
        old.listen()
        in_use = manage("--port", str(old.getsockname()[1]))
    assert in_use.returncode != 0
    assert "Cannot listen on 127.0.0.1" in in_use.stderr and "Traceback" not in in_use.stderr


def test_the_sockets_listen_before_any_process_starts_so_a_second_server_is_refused_at_once():
    """Bound but not listening, a socket would take no connection and would let a second
    serve_portal's probe through (Linux lets it bind beside sockets that do not listen)."""
    sockets = tcp_listeners(HOST, 0, 2, 128)
    try:
        assert [s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) for s in sockets] == [1, 1]
        with pytest.raises(OSError):
            tcp_listeners(HOST, sockets[0].getsockname()[1], 2, 128)
    finally:
        for opened in sockets:
            opened.close()

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
from pathlib import Path

import pytest

from reviewer_portal.operations.listener import tcp_listener
from tests.processes import HOST
from tests.test_serve_portal import alive, manage, served, workers

pytestmark = pytest.mark.django_db(transaction=True)


def established_by_process(port: int, pids: list[int]) -> dict[int, int]:
    """How many established connections to `port` each process holds (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # ESTABLISHED, on the server's side
                inodes.add(fields[9])
    held = {}
    for pid in pids:
        links = [link.readlink().name for link in Path(f"/proc/{pid}/fd").iterdir() if _is_socket(link)]
        held[pid] = sum(1 for link in links if link.removeprefix("socket:[").removesuffix("]") in inodes)
    return held


def _is_socket(link: Path) -> bool:
    try:
        return link.readlink().name.startswith("socket:[")
    except OSError:  # closed meanwhile
        return False


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
    with served(tmp_path) as (server, port, serving):
        killed = serving[0]
        os.kill(killed, signal.SIGKILL)
        # Half of these reach the killed process's socket: they wait for its successor.
        with ThreadPoolExecutor(30) as pool:
            statuses = list(pool.map(lambda _: status_of_a_fresh_connection(port), range(30)))
        assert statuses == [200] * 30
        now = workers(server.pid)
        assert len(now) == 2 and killed not in now and not alive(killed)


def test_sighup_replaces_the_processes_one_by_one_while_every_request_is_answered(tmp_path):
    with served(tmp_path) as (server, port, serving):
        server.send_signal(signal.SIGHUP)
        statuses = []
        deadline = time.monotonic() + 90
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

"""A `serve_portal` process whose event loop hangs is replaced (issue 12, the portal under a team;
reviewer_portal/operations/watched_process.py). Its ping thread used to go on answering the
supervisor, so the process kept its socket, and the share of new connections the kernel sends
that socket, while it served nothing: those reviewers waited until their proxy gave up. What
happens now: the process stops answering once its loop has not run for PORTAL_LOOP_STALL_SECONDS,
logs where the loop is stuck, and the supervisor replaces it on its socket; the other process and
its connections are left alone. Such a process never acts on SIGTERM either: a stop kills it past
its graceful limit, and with the supervisor killed outright it ends itself."""

from __future__ import annotations

import signal
import socket
import time

import pytest

from reviewer_portal.operations.management.commands.serve_portal import GRACEFUL_SECONDS
from reviewer_portal.operations.watched_process import GRACEFUL_MARGIN_SECONDS
from tests.loop_stalling_app import STALL_PATH
from tests.processes import HOST, answers
from tests.test_serve_portal import alive, established_by_process, manage, served, workers
from tests.test_serve_portal_sockets import status_of_a_fresh_connection

pytestmark = pytest.mark.django_db(transaction=True)
STALL_SECONDS = 2


def test_a_process_whose_event_loop_hangs_is_replaced_and_says_where_it_hung(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_LOOP_STALL_SECONDS", str(STALL_SECONDS))
    with served(tmp_path, "--app", "tests.loop_stalling_app:application") as (server, port, serving):
        stalling = socket.create_connection((HOST, port), timeout=60)
        stalling.sendall(b"GET " + STALL_PATH.encode() + b" HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n\r\n")
        deadline = time.monotonic() + 10
        while not any((held := established_by_process(port, serving)).values()):
            assert time.monotonic() < deadline, held
            time.sleep(0.1)
        (hung,) = (pid for pid, count in held.items() if count)
        (healthy,) = set(serving) - {hung}

        deadline = time.monotonic() + 60  # the stall, the supervisor's 5 s ping, a new process
        while alive(hung) or len(workers(server.pid)) < 2:
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        assert stalling.recv(64) == b""  # its connection ended with it, unanswered
        stalling.close()
        assert healthy in workers(server.pid)  # the other process was left alone
        assert [status_of_a_fresh_connection(port) for _ in range(10)] == [200] * 10

    log = (tmp_path / "serve.log").read_text()
    assert f"Process [{hung}]'s event loop has not run for" in log
    assert "loop_stalling_app.py" in log  # where it hung: the stack of its loop's thread
    assert f"Child process [{hung}] stopped answering; starting another on its socket" in log


def test_a_stop_does_not_wait_for_ever_on_a_process_whose_loop_hangs(tmp_path, monkeypatch):
    """SIGTERM: the healthy process stops gracefully; the hung one never reaches its graceful limit
    (its loop runs it), so it is killed GRACEFUL_MARGIN_SECONDS past it, and the port is free."""
    monkeypatch.setenv("PORTAL_LOOP_STALL_SECONDS", "600")  # not replaced first
    with served(tmp_path, "--app", "tests.loop_stalling_app:application") as (server, port, serving):
        stalling = socket.create_connection((HOST, port), timeout=60)
        stalling.sendall(b"GET " + STALL_PATH.encode() + b" HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n\r\n")
        time.sleep(1)  # it has reached the loop
        server.send_signal(signal.SIGTERM)
        began = time.monotonic()
        assert server.wait(timeout=GRACEFUL_SECONDS + GRACEFUL_MARGIN_SECONDS + 15) == 0
        stopped_after = time.monotonic() - began
        stalling.close()
    assert stopped_after >= GRACEFUL_SECONDS  # the healthy one's requests had their time
    assert not any(alive(pid) for pid in serving)
    assert not answers(port)
    assert "did not stop in time; killing it" in (tmp_path / "serve.log").read_text()


def test_a_stall_limit_under_a_second_is_refused(monkeypatch):
    """The loop ticks every 0.1 s; under a second, a pause for garbage collection or a busy machine
    would have healthy processes replaced, dropping their requests."""
    monkeypatch.setenv("PORTAL_LOOP_STALL_SECONDS", "0.5")
    refused = manage("--port", "0")
    assert refused.returncode != 0
    assert "PORTAL_LOOP_STALL_SECONDS must be at least 1 second" in refused.stderr


def test_a_process_whose_loop_hangs_ends_with_its_supervisor_killed_outright(tmp_path, monkeypatch):
    """SIGKILL to the supervisor: the processes get SIGTERM from Linux (PR_SET_PDEATHSIG), which a
    hung loop never acts on; it held the port for ever. It now ends GRACEFUL_MARGIN_SECONDS past
    its graceful limit, while the healthy one stops at once."""
    monkeypatch.setenv("PORTAL_LOOP_STALL_SECONDS", "600")  # not replaced first
    with served(tmp_path, "--app", "tests.loop_stalling_app:application") as (server, port, serving):
        stalling = socket.create_connection((HOST, port), timeout=60)
        stalling.sendall(b"GET " + STALL_PATH.encode() + b" HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n\r\n")
        time.sleep(1)  # it has reached the loop
        server.kill()
        server.wait(timeout=10)
        deadline = time.monotonic() + GRACEFUL_SECONDS + GRACEFUL_MARGIN_SECONDS + 15
        while any(alive(pid) for pid in serving):
            assert time.monotonic() < deadline, [pid for pid in serving if alive(pid)]
            time.sleep(0.5)
        stalling.close()
    assert not answers(port)
    assert "outlived its supervisor" in (tmp_path / "serve.log").read_text()

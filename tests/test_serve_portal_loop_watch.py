"""A `serve_portal` process whose event loop hangs is replaced (issue 12, the portal under a team;
reviewer_portal/operations/watched_process.py). Its ping thread used to go on answering the
supervisor, so the process kept its socket, and the share of new connections the kernel sends
that socket, while it served nothing: those reviewers waited until their proxy gave up. What
happens now: the process stops answering once its loop has not run for PORTAL_LOOP_STALL_SECONDS,
logs where the loop is stuck, and the supervisor replaces it on its socket; the other process and
its connections are left alone. Such a process never acts on SIGTERM either: a stop, and a SIGHUP
restart, kill it past its graceful limit, and with the supervisor killed outright it ends itself.
A process that never starts serving is replaced after READY_SECONDS."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from reviewer_portal.operations.supervisor import READY_SECONDS
from reviewer_portal.operations.watched_process import GRACEFUL_MARGIN_SECONDS, TickingServer, WatchedProcess
from tests.first_load_hangs_app import MARKER
from tests.loop_stalling_app import STALL_PATH
from tests.processes import HOST, answers
from tests.test_serve_portal import alive, established_by_process, manage, served, workers
from tests.test_serve_portal_sockets import status_of_a_fresh_connection

# Process supervision, not the portal's database: one CI pass (`once`), which is not the longest.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.once]
STALL_SECONDS = 4
GRACEFUL_SECONDS = 3  # PORTAL_GRACEFUL_SECONDS here: 20 by default
STALLING_APP = ("--app", "tests.loop_stalling_app:application")


@contextmanager
def one_loop_stalled(port: int, serving: list[int]) -> Iterator[tuple[int, int]]:
    """(the process whose loop a request holds, the other), with that request's connection open."""
    stalling = socket.create_connection((HOST, port), timeout=60)
    try:
        stalling.sendall(b"GET " + STALL_PATH.encode() + b" HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n\r\n")
        deadline = time.monotonic() + 10
        while not any((held := established_by_process(port, serving)).values()):
            assert time.monotonic() < deadline, held
            time.sleep(0.1)
        (hung,) = (pid for pid, count in held.items() if count)
        (healthy,) = set(serving) - {hung}
        time.sleep(0.5)  # the request has reached the loop
        yield hung, healthy
        assert stalling.recv(64) == b""  # its connection ended with the process, unanswered
    finally:
        stalling.close()


def wait_for(done, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_a_process_whose_event_loop_hangs_is_replaced_and_says_where_it_hung(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_LOOP_STALL_SECONDS", str(STALL_SECONDS))
    with served(tmp_path, *STALLING_APP) as (server, port, serving):
        with one_loop_stalled(port, serving) as (hung, healthy):
            # the stall, a sign of life asked for, the supervisor's 5 s ping, a new process
            wait_for(lambda: not alive(hung) and len(workers(server.pid)) == 2, "replaced", 60)
        assert healthy in workers(server.pid)  # the other process was left alone
        assert [status_of_a_fresh_connection(port) for _ in range(10)] == [200] * 10

    log = (tmp_path / "serve.log").read_text()
    assert f"Process [{hung}]'s event loop has not run for" in log
    assert "loop_stalling_app.py" in log  # where it hung: the stack of its loop's thread
    assert f"Child process [{hung}] stopped answering; starting another on its socket" in log
    assert log.count("event loop has not run for") == 1  # said once: no old answers hid the silence


def test_a_stop_does_not_wait_for_ever_on_a_process_whose_loop_hangs(tmp_path, monkeypatch):
    """SIGTERM: the healthy process stops gracefully; the hung one never reaches its graceful limit
    (its loop runs it), so the supervisor kills it GRACEFUL_MARGIN_SECONDS past it."""
    monkeypatch.setenv("PORTAL_LOOP_STALL_SECONDS", "600")  # not replaced first
    monkeypatch.setenv("PORTAL_GRACEFUL_SECONDS", str(GRACEFUL_SECONDS))
    with served(tmp_path, *STALLING_APP) as (server, port, serving), one_loop_stalled(port, serving):
        server.send_signal(signal.SIGTERM)
        began = time.monotonic()
        assert server.wait(timeout=GRACEFUL_SECONDS + GRACEFUL_MARGIN_SECONDS + 15) == 0
        stopped_after = time.monotonic() - began
    assert stopped_after >= GRACEFUL_SECONDS + GRACEFUL_MARGIN_SECONDS - 1  # the hung one had its time
    assert not any(alive(pid) for pid in serving)
    assert not answers(port)
    log = (tmp_path / "serve.log").read_text()
    assert "did not stop in time; killing it" in log
    assert "Warning: PORTAL_GRACEFUL_SECONDS (3) is shorter than the longest a request waits" in log


def test_sighup_replaces_a_process_whose_loop_hangs_and_goes_on_watching(tmp_path, monkeypatch):
    """The old process's stop waited for ever on the hung one: the supervisor pinged nothing and
    handled no signal from then on. Now it is killed past its limit, and the restart goes on."""
    monkeypatch.setenv("PORTAL_LOOP_STALL_SECONDS", "600")  # not replaced first
    monkeypatch.setenv("PORTAL_GRACEFUL_SECONDS", str(GRACEFUL_SECONDS))
    with served(tmp_path, *STALLING_APP) as (server, port, serving), one_loop_stalled(port, serving):
        server.send_signal(signal.SIGHUP)
        wait_for(lambda: not set(workers(server.pid)) & set(serving), "both restarted", 3 * READY_SECONDS)
        assert len(workers(server.pid)) == 2
        assert [status_of_a_fresh_connection(port) for _ in range(10)] == [200] * 10
        server.send_signal(signal.SIGTERM)  # handled: the supervisor is not stuck
        assert server.wait(timeout=GRACEFUL_SECONDS + GRACEFUL_MARGIN_SECONDS + 15) == 0
    assert "did not stop in time; killing it" in (tmp_path / "serve.log").read_text()


def test_a_process_whose_loop_hangs_ends_with_its_supervisor_killed_outright(tmp_path, monkeypatch):
    """SIGKILL to the supervisor: the processes get SIGTERM from Linux (PR_SET_PDEATHSIG), which a
    hung loop never acts on; it held the port for ever. It now ends GRACEFUL_MARGIN_SECONDS past
    its graceful limit, while the healthy one stops at once."""
    monkeypatch.setenv("PORTAL_LOOP_STALL_SECONDS", "600")  # not replaced first
    monkeypatch.setenv("PORTAL_GRACEFUL_SECONDS", str(GRACEFUL_SECONDS))
    with served(tmp_path, *STALLING_APP) as (server, port, serving), one_loop_stalled(port, serving):
        server.kill()
        server.wait(timeout=10)
        limit = GRACEFUL_SECONDS + GRACEFUL_MARGIN_SECONDS + 15
        wait_for(lambda: not any(alive(pid) for pid in serving), "both ended", limit)
    assert not answers(port)
    assert "outlived its supervisor" in (tmp_path / "serve.log").read_text()


def test_a_stop_asked_for_during_a_sighup_restart_does_not_wait_for_it(tmp_path: Path, monkeypatch):
    """Signals wait in a queue while a restart runs: SIGTERM waited for the successor's 30 s to
    start serving (one per slot) before the stop began. The restart now gives way to it."""
    monkeypatch.setenv(MARKER, str(tmp_path / "first-load"))
    monkeypatch.setenv("PORTAL_GRACEFUL_SECONDS", str(GRACEFUL_SECONDS))
    (tmp_path / "first-load").touch()  # the processes load the portal; the successor will hang
    with served(tmp_path, "--app", "tests.first_load_hangs_app:application") as (server, _port, serving):
        (tmp_path / "first-load").unlink()
        server.send_signal(signal.SIGHUP)
        time.sleep(2)  # the successor is loading, and hangs
        server.send_signal(signal.SIGTERM)
        began = time.monotonic()
        assert server.wait(timeout=READY_SECONDS + 30) == 0
        stopped_after = time.monotonic() - began
    assert stopped_after < READY_SECONDS / 2, stopped_after
    assert not any(alive(pid) for pid in serving)


def test_a_process_that_never_starts_serving_is_replaced(tmp_path: Path, monkeypatch):
    """Its loading hung (an import stuck on a hung mount): it answered the supervisor "starting"
    for ever, and its socket's share of connections waited. Replaced after READY_SECONDS."""
    monkeypatch.setenv(MARKER, str(tmp_path / "first-load"))
    with served(tmp_path, "--app", "tests.first_load_hangs_app:application") as (_server, port, _serving):
        assert [status_of_a_fresh_connection(port) for _ in range(10)] == [200] * 10
    log = (tmp_path / "serve.log").read_text()
    assert f"did not start serving in {READY_SECONDS} s; starting another on its socket" in log


@pytest.mark.parametrize(
    ("variable", "value", "error"),
    [
        ("PORTAL_LOOP_STALL_SECONDS", "0.5", "PORTAL_LOOP_STALL_SECONDS must be at least 1 second"),
        ("PORTAL_GRACEFUL_SECONDS", "0", "PORTAL_GRACEFUL_SECONDS must be at least 1 second"),
    ],
)
def test_limits_that_would_replace_or_cut_off_healthy_processes_are_refused(
    monkeypatch, variable, value, error
):
    """The loop ticks every 0.1 s: under a second, a pause for garbage collection or a busy machine
    would have healthy processes replaced, dropping their requests."""
    monkeypatch.setenv(variable, value)
    refused = manage("--port", "0")
    assert refused.returncode != 0
    assert error in refused.stderr


@contextmanager
def answering(stall_seconds: float, server: TickingServer) -> Iterator[Callable[[], bool | None]]:
    """A WatchedProcess's answering thread in this process, over its real pipe: yields a ping
    that returns the answer, or None if none came within 4 s (SIGN_OF_LIFE_SECONDS is 2)."""
    process = WatchedProcess(
        uvicorn.Config("x:y", timeout_graceful_shutdown=GRACEFUL_SECONDS), [], stall_seconds
    )
    process._server = server
    process.supervisor = os.getppid()  # this test process's parent stands in: no orphan
    done = threading.Event()

    def answer() -> None:
        while not done.is_set():
            process.pong()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield lambda: process._healthcheck(4)
    done.set()
    server.should_exit, server.last_tick = False, None  # the last ping is answered: the thread ends
    process._healthcheck(4)
    thread.join(5)
    process.parent_conn.close()
    process.child_conn.close()


def test_a_loop_that_shows_life_keeps_answering_though_its_ticks_stopped():
    """The whole process was paused (SIGSTOP, a frozen container): its last tick is old when it
    resumes, but its loop runs, so it answers and is not replaced with its requests."""
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    server = TickingServer(uvicorn.Config("x:y"))
    server.started, server.loop, server.last_tick = True, loop, time.monotonic() - 60
    with answering(1, server) as ping:
        assert ping() is True
    loop.call_soon_threadsafe(loop.stop)


def test_a_process_stopping_past_its_limits_is_silent_even_with_its_loop_running():
    """SIGTERM to one process (an operator recycling it) whose stop then waits on something that
    never ends, with its loop running: past its graceful limit, the margin and the stall limit
    it stops answering, so the supervisor replaces it (it kept its socket's share before)."""
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    server = TickingServer(uvicorn.Config("x:y"))
    server.started, server.loop, server.last_tick = True, loop, time.monotonic()
    server.should_exit = True
    with answering(1, server) as ping:
        assert ping() is True  # just told to stop: it has its graceful limit
        server.stopping_since = time.monotonic() - GRACEFUL_SECONDS - GRACEFUL_MARGIN_SECONDS - 2
        assert ping() is None
    loop.call_soon_threadsafe(loop.stop)

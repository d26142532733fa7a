"""`manage.py serve_portal` (issue 12, the portal under a team): N uvicorn processes on one port,
whose connections have Nagle's algorithm off. With `uvicorn --workers N` they had it on, and every
request after the first on a kept-alive connection waited about 40 ms for the client's delayed
ACK (uvicorn issue 3149); the timing itself is measured in benchmarks/portal_load.py, never here."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
import uvicorn
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect
from websockets.typing import Origin

from reviewer_portal.operations.listener import tcp_listener, url_of
from reviewer_portal.operations.management.commands.serve_portal import trusts_everyone
from tests.conftest import ROOT, logged_in, make_user
from tests.processes import HOST, answers, free_port, test_database_url


def nagle_off_on_accepted(listener: socket.socket) -> bool:
    """Serve one connection from `listener` with asyncio, as uvicorn does: is TCP_NODELAY on?"""
    seen: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted = transport.get_extra_info("socket")
            seen.append(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def serve_one() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        port = listener.getsockname()[1]
        _reader, writer = await asyncio.open_connection(HOST, port)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(serve_one())
    return bool(seen[0])


def test_the_portals_listener_turns_nagle_off_on_every_connection_and_uvicorns_own_did_not():
    assert nagle_off_on_accepted(tcp_listener(HOST, 0))
    # What `uvicorn --workers N` binds. Should this fail, uvicorn has mended issue 3149 and
    # serve_portal may hand the listening socket back to uvicorn.
    assert not nagle_off_on_accepted(uvicorn.Config("x:y", host=HOST, port=0).bind_socket())


def workers(pid: int) -> list[int]:
    """The serving processes the supervisor `pid` started (not multiprocessing's helpers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with suppress(OSError):
                if "spawn_main" in Path(f"/proc/{child}/cmdline").read_text():
                    found.append(int(child))
    return found


def alive(pid: int) -> bool:
    with suppress(OSError):
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    return False


ODD_TARGETS = [
    b"/%00",
    b"/gates/%00/decide/",
    b"/gates/%ED%A0%80/decide/",  # a lone surrogate, percent-encoded
    b"/gates/%E2%80%AE/decide/",  # right-to-left override
    b"/gates/%FF%FE/decide/",  # not UTF-8
    b"/gates/" + b"g" * 4000 + b"/decide/",
    b"/gates/../admin/",
    b"//gates//decide//",
    b"/%",
]


def raw_status(port: int, method: bytes, target: bytes, session: str) -> int:
    """The status line's code for `method target` sent as raw bytes, signed in, no body."""
    request = (
        method + b" " + target + b" HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n"
        b"Cookie: sessionid=" + session.encode() + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((HOST, port), timeout=30) as connection:
        connection.sendall(request)
        head = connection.recv(64)
    return int(head.split(b" ", 2)[1])


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


def kept_alive_after_a_get(port: int, timeout: float = 60) -> tuple[int, socket.socket]:
    """GET /accounts/login/ on a connection of its own, kept open: the status, and the connection."""
    connection = socket.create_connection((HOST, port), timeout=timeout)
    connection.sendall(b"GET /accounts/login/ HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n\r\n")
    return int(connection.recv(64).split(b" ", 2)[1]), connection


def every_process_answers(port: int, supervisor: int) -> bool:
    """Whether each serving process has answered one of 20 connections opened at once (each
    socket's share; all 20 on one by chance: about one time in 500,000)."""
    with ThreadPoolExecutor(20) as pool:
        tries = [pool.submit(kept_alive_after_a_get, port, 10) for _ in range(20)]
    kept = [done.result() for done in tries if done.exception() is None]
    try:  # a process still starting, or one that failed: not yet (the caller shows the log)
        serving = workers(supervisor)
        return len(kept) == 20 and all(established_by_process(port, serving).values())
    finally:
        for _, connection in kept:
            connection.close()


@contextmanager
def served(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], int, list[int]]]:
    """`manage.py serve_portal --processes 2 *args` on the test database: (supervisor, port, the
    serving processes), once they answer. Stopped afterwards if still running."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": test_database_url()}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "serve_portal", "--port", str(port), "--processes", "2", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while (
            not answers(port) or len(workers(server.pid)) < 2 or not every_process_answers(port, server.pid)
        ):
            assert server.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        yield server, port, workers(server.pid)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)


def runs_uvloop(pid: int) -> bool:
    """Whether the process has uvloop's extension loaded (its memory maps name the file)."""
    return "/uvloop/loop." in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_serve_portal_serves_signed_in_reviewers_from_n_processes_and_stops_them_all(tmp_path, loop):
    officer = make_user("served-officer", "credit_officer")
    session = logged_in(officer).cookies["sessionid"].value
    with served(tmp_path, *(("--loop", loop) if loop == "asyncio" else ())) as (server, port, serving):
        assert len(serving) == 2
        assert [runs_uvloop(pid) for pid in serving] == [loop == "uvloop"] * 2  # uvloop by default
        with httpx.Client(base_url=f"http://{HOST}:{port}", cookies={"sessionid": session}) as client:
            pages = [client.get("/") for _ in range(5)]  # one kept-alive connection
        assert [page.status_code for page in pages] == [200] * 5
        assert all(b'id="gate-table"' in page.content for page in pages)
        for method in (b"GET", b"POST"):  # odd paths as raw bytes: answered, never a 5xx
            for target in ODD_TARGETS:
                status = raw_status(port, method, target, session)
                assert 200 <= status < 500, (method, target[:40], status)
        small, large = frames_answered(port, session)
        assert small is None  # dropped unread, the socket goes on
        assert large == 1009  # over WS_MAX_BYTES: closed, "message too big"
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    assert not any(alive(pid) for pid in serving)


def frames_answered(port: int, session: str) -> tuple[int | None, int | None]:
    """Send /ws/gates/ a frame under 4 KB, then one over: the close code after each (None: open)."""
    url = f"ws://{HOST}:{port}/ws/gates/"
    headers = {"Cookie": f"sessionid={session}"}
    codes: list[int | None] = []
    with ws_connect(url, origin=Origin(f"http://{HOST}:{port}"), additional_headers=headers) as ws:
        ws.send("x" * 1000)
        ws.ping().wait(15)  # its pong: the socket outlived the frame
        codes.append(None)
        ws.send("x" * 5000)
        try:
            ws.recv(timeout=15)
            codes.append(None)  # a push: not expected, but the socket is open
        except ConnectionClosed as closed:
            codes.append(closed.rcvd.code if closed.rcvd else -1)
    return codes[0], codes[1]


@pytest.mark.django_db(transaction=True)
def test_the_serving_processes_end_with_a_supervisor_killed_outright(tmp_path):
    """SIGKILL or the OOM killer: the processes must not go on holding the port."""
    with served(tmp_path) as (server, port, serving):
        server.kill()
        server.wait(timeout=10)
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in serving) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(pid) for pid in serving)
    tcp_listener(HOST, port).close()  # the port is free again


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "serve_portal", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_serve_portal_refuses_what_it_cannot_serve_safely():
    assert "--processes must be at least 1" in manage("--processes", "0").stderr
    assert "argument --loop: invalid choice: 'trio'" in manage("--loop", "trio").stderr
    for everyone in ("10.0.0.1,*", "0.0.0.0/0", "10.0.0.1, ::/0", "0.0.0.0/4"):
        trusting_everyone = manage("--forwarded-allow-ips", everyone)
        assert trusting_everyone.returncode != 0, everyone
        assert "would believe the X-Forwarded-For any client" in trusting_everyone.stderr
    with tcp_listener(HOST, 0) as taken:
        taken.listen()
        in_use = manage("--port", str(taken.getsockname()[1]))
    assert in_use.returncode != 0
    assert "Cannot listen on 127.0.0.1" in in_use.stderr and "Traceback" not in in_use.stderr


def test_proxies_named_by_address_or_a_private_network_are_trusted_and_the_whole_internet_is_not():
    assert not trusts_everyone("127.0.0.1")
    assert not trusts_everyone("10.0.0.1, 192.168.0.0/16, fd00::/48, proxy.internal")
    assert trusts_everyone("::/0") and trusts_everyone("128.0.0.0/1") and trusts_everyone(" * ")


def test_an_application_that_cannot_load_stops_the_supervisor_with_code_3():
    """Not started again and again: a supervisor (systemd's Restart=on-failure) sees a failure."""
    broken = manage("--port", str(free_port()), "--app", "no_such_module:application")
    assert broken.returncode == 3


def test_an_ipv6_listener_takes_ipv6_only():
    """Dual-stack, an IPv4 proxy would show as ::ffff:127.0.0.1, which no IPv4 entry of
    --forwarded-allow-ips matches: every client would get the proxy's address and lockouts."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    with tcp_listener("::1", 0) as listener:
        assert listener.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
        assert url_of(listener).startswith("http://[::1]:")


def test_the_supervisor_does_not_load_the_application_it_never_serves():
    """Only the serving processes load the portal (its request threads, its connections)."""
    probe = (
        "import sys, django; django.setup();"
        "import reviewer_portal.operations.management.commands.serve_portal;"
        "print(sorted(m for m in ('reviewer_portal.asgi', 'reviewer_portal.operations.served_app')"
        " if m in sys.modules))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "reviewer_portal.settings"}
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"

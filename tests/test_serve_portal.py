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
from pathlib import Path

import httpx
import pytest
import uvicorn

from reviewer_portal.operations.listener import tcp_listener
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


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


@pytest.mark.django_db(transaction=True)
def test_serve_portal_serves_signed_in_reviewers_from_n_processes_and_stops_them_all(tmp_path):
    officer = make_user("served-officer", "credit_officer")
    session = logged_in(officer).cookies["sessionid"].value
    port = free_port()
    env = {**os.environ, "DATABASE_URL": test_database_url()}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "serve_portal", "--port", str(port), "--processes", "2"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not answers(port) or len(children(server.pid)) < 2:
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        workers = children(server.pid)
        with httpx.Client(base_url=f"http://{HOST}:{port}", cookies={"sessionid": session}) as client:
            pages = [client.get("/") for _ in range(5)]  # one kept-alive connection
        assert [page.status_code for page in pages] == [200] * 5
        assert all(b'id="gate-table"' in page.content for page in pages)
        assert "with 2 process(es)" in (tmp_path / "serve.log").read_text()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_serve_portal_refuses_no_processes():
    refused = subprocess.run(
        [sys.executable, "manage.py", "serve_portal", "--processes", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "--processes must be at least 1" in refused.stderr

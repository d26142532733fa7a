"""The real portal served for a benchmark, daphne or uvicorn with worker processes, in a child
process with this process's environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from benchmarks.processes import BenchmarkError, free_port, is_listening, process_tree, stop, tail

PORTAL_APP = "reviewer_portal.asgi:application"
ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def portal_server(log_path: Path | None, app: str = PORTAL_APP) -> Iterator[str]:
    """Serve the portal with daphne (same environment as this process); yield its base URL.

    Its output goes to `log_path`; with None, stdout is dropped and stderr is this process's.
    """
    port = free_port()
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
    if log_path is None:
        process = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL)
    else:
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(process, base_url, log_path)
        yield base_url
    finally:
        stop(process)


def _wait_until_serving(process: subprocess.Popen[bytes], base_url: str, log_path: Path | None) -> None:
    import httpx

    output = f":\n{tail(log_path)}" if log_path else ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchmarkError(f"The portal exited ({process.returncode}){output}")
        try:
            if httpx.get(f"{base_url}/accounts/login/", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise BenchmarkError(f"The portal did not answer within 60 s{output}")


@contextmanager
def served_portal(
    env: dict[str, str], processes: int, log: Path, app: str = PORTAL_APP, loop: str = "uvloop"
) -> Iterator[tuple[str, int]]:
    """The portal (`app`) served as in production, by `manage.py serve_portal` with `processes`
    uvicorn processes on `loop`; yields (base URL, supervisor pid)."""
    port = free_port()
    command = [
        sys.executable,
        "manage.py",
        "serve_portal",
        "--app",
        app,
        "--port",
        str(port),
        "--processes",
        str(processes),
        "--loop",
        loop,
    ]
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while len(process_tree(process.pid)) < processes + (processes > 1) or not is_listening(
            f"127.0.0.1:{port}", timeout=0.5
        ):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        # Each process listens on a socket of its own from the start: a connection waits until
        # its process serves. Fresh connections land on every socket; each answered, all serve.
        for _ in range(10 * processes):
            httpx.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=60)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        stop(process)


SERVERS = ("daphne", "serve_portal")


@contextmanager
def portal_served_by(server: str, log_path: Path, app: str = PORTAL_APP) -> Iterator[str]:
    """The portal served by daphne (make dev's) or by one `serve_portal` process (production's
    uvicorn, as each of its N runs), with this process's environment; yields its base URL."""
    if server == "daphne":
        with portal_server(log_path, app) as base_url:
            yield base_url
    else:
        with served_portal(os.environ.copy(), 1, log_path, app) as (base_url, _):
            yield base_url

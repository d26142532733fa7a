"""Child processes of the benchmarks: free ports, waiting for a listener, stopping what was started,
the CPU a process tree has used, and the Temporal dev server."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from reviewer_portal.operations.dev_server import store_args


class BenchmarkError(RuntimeError):
    """Something in the setup or a sample went wrong; the message says what."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_listening(address: str, timeout: float = 1) -> bool:
    """Whether something accepts connections at `host:port` (no host: 127.0.0.1)."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not is_listening(f"127.0.0.1:{port}"):
        if time.monotonic() > deadline:
            raise SystemExit(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s")
        time.sleep(0.2)


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """Terminate, and kill what has not ended within `timeout` seconds."""
    stop_all([process], timeout)


def stop_all(processes: Iterable[subprocess.Popen[bytes]], timeout: float = 15) -> None:
    """Terminate them all first, so they wind down together; then wait for each, killing laggards."""
    processes = list(processes)
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (uvicorn's supervisor spawns its workers)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return pids


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process and its descendants, from /proc."""
    total = 0
    for each in process_tree(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


# --- the Temporal dev server ----------------------------------------------------------------


def temporal_binary() -> Path:
    """This virtualenv's `temporal` CLI (requirements.txt installs it)."""
    return Path(sys.executable).parent / "temporal"


def dev_server_command(port: int, db_filename: Path | None = None) -> list[str]:
    """`temporal server start-dev`, headless, on 127.0.0.1:`port`; in memory unless `db_filename`."""
    command = [str(temporal_binary()), "server", "start-dev", "--headless", "--ip", "127.0.0.1"]
    command += ["--port", str(port)]
    if db_filename is not None:  # as `make dev` keeps it
        command += store_args(db_filename)
    return [*command, "--log-level", "error"]


@contextmanager
def temporal_server(address: str, log_path: Path) -> Iterator[tuple[str, bool]]:
    """Yield (address, started): the server at `address`, or a headless dev server of our own.

    Our own is this virtualenv's `temporal server start-dev` (in-memory) on a free port, stopped
    when the context ends; its output goes to `log_path`.
    """
    if is_listening(address):
        yield address, False
        return
    binary = temporal_binary()
    if not binary.exists():
        raise BenchmarkError(f"Nothing listens at {address} and there is no {binary} to start a server")
    port = free_port()
    address = f"127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(dev_server_command(port), stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        _wait_for_namespace(process, address, log_path)
        yield address, True
    finally:
        stop(process)


def _wait_for_namespace(process: subprocess.Popen[bytes], address: str, log_path: Path) -> None:
    """Wait until the dev server serves the default namespace."""
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    async def ready() -> bool:
        try:
            client = await Client.connect(address)
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
        except Exception:
            return False
        return True

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchmarkError(f"The Temporal dev server exited ({process.returncode}):\n{tail(log_path)}")
        if is_listening(address) and asyncio.run(ready()):
            return
        time.sleep(0.2)
    raise BenchmarkError(f"The Temporal dev server did not start within 60 s:\n{tail(log_path)}")

"""The portal and other servers as processes of their own, for the tests that need a real socket:
free ports, waiting for one to answer, and the portal under daphne (WebSockets) on the test
database, as `make dev` runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0
PORTAL_APP = "reviewer_portal.asgi:application"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def test_database_url() -> str:
    """The test database, as a DATABASE_URL for another process."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    return urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + quote(db["NAME"])))


test_database_url.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


class DaphnePortal:
    """The portal under daphne on a free port, with the environment it is given."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(self.port), PORTAL_APP]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"daphne did not start on port {self.port}:\n{self.log_path.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@contextmanager
def daphne_portal(log_dir: Path, **env: str) -> Iterator[DaphnePortal]:
    """The portal under daphne on the test database (and `env` on top of this process's own),
    stopped afterwards."""
    environment = {**os.environ, "DATABASE_URL": test_database_url(), **env}
    environment.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    portal = DaphnePortal(environment, log_dir / "daphne.log")
    portal.start()
    try:
        yield portal
    finally:
        portal.stop()

"""`make dev` stops what it started (issue 12), shown on a real devstack: two signals to its
process group during start-up, or during the stop, still stop every child (Temporal, worker,
delivery loop, portal) and free their ports; and SIGKILL of devstack takes the children with it.
Each stack listens on free ports and keeps its state in a folder of its own."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import answers, free_port
from tests.test_devstack_stop import _alive

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parent.parent
CHILDREN = {"temporal", "worker", "delivery", "portal"}
STARTED = re.compile(r"^Started (\w+) \(pid (\d+)\)\.$", re.MULTILINE)
# Start-up migrates a fresh database and seeds the demo runs: slow on a busy machine.
START_TIMEOUT = 180.0
REAL_CLUSTER_KEY = "sk-real-cluster-key-not-for-a-dev-stack"
# The worker lets in-flight activities finish for up to 20 s after SIGTERM.
STOP_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by this module's stacks: the second and third reuse the migrated database."""
    return tmp_path_factory.mktemp("devstack")


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    log: Path
    ports: list[int]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.process.poll() is None, f"devstack exited early:\n{self.output()}"
            assert time.monotonic() < deadline, f"no {text!r} within {timeout:.0f} s:\n{self.output()}"
            time.sleep(0.1)

    def children(self) -> dict[str, int]:
        return {name: int(pid) for name, pid in STARTED.findall(self.output())}

    def signal_group(self, sig: signal.Signals) -> None:
        """As `kill -- -<pgid>` does: to every process of devstack's group (as make's with it)."""
        os.killpg(self.process.pid, sig)


@pytest.fixture
def stack(state_dir: Path) -> Iterator[Stack]:
    ports = [free_port() for _ in range(3)]
    env = {
        **os.environ,
        "DEVSTACK_TEMPORAL_PORT": str(ports[0]),
        "DEVSTACK_UI_PORT": str(ports[1]),
        "PORTAL_PORT": str(ports[2]),
        "DEVSTACK_STATE_DIR": str(state_dir),
        "DATABASE_URL": f"sqlite:///{state_dir / 'portal.sqlite3'}",
        "AGENT_DOMAINS": "{}",  # one namespace: fewer to create
        "PYTHONUNBUFFERED": "1",
        # A real cluster's key left in the shell: never offered to the local server or the children.
        "TEMPORAL_API_KEY": REAL_CLUSTER_KEY,
    }
    log = state_dir / f"devstack-{ports[0]}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "devstack"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,  # a group of its own, as `make dev` gets from the shell
        )
    running = Stack(process, log, ports)
    try:
        yield running
    finally:  # whatever the test left behind
        for pid in [process.pid, *running.children().values()]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        process.wait(10)


def _assert_all_gone(stack: Stack) -> None:
    children = stack.children()
    assert set(children) == CHILDREN, stack.output()
    deadline = time.monotonic() + STOP_TIMEOUT
    while alive := [name for name, pid in children.items() if _alive(pid)]:
        assert time.monotonic() < deadline, f"{alive} outlived devstack:\n{stack.output()}"
        time.sleep(0.2)
    assert [port for port in stack.ports if answers(port)] == []


def _assert_stopped_in_order(stack: Stack) -> None:
    assert stack.process.wait(STOP_TIMEOUT) == 0, stack.output()
    assert "Traceback" not in stack.output(), stack.output()  # the whole log, to say whose
    stopping = re.findall(r"^Stopping (\w+) \(pid", stack.output(), re.MULTILINE)
    assert stopping == ["portal", "delivery", "worker", "temporal"], stack.output()
    _assert_all_gone(stack)


def test_two_signals_to_the_group_during_start_up_still_stop_every_child(stack):
    stack.wait_for("Started portal")  # every child runs; the portal is not yet listening
    for name, pid in stack.children().items():
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert REAL_CLUSTER_KEY.encode() not in environ, f"{name} was given the cluster's API key"

    stack.signal_group(signal.SIGTERM)
    time.sleep(0.05)
    stack.signal_group(signal.SIGTERM)

    _assert_stopped_in_order(stack)


def test_two_signals_to_the_group_during_the_stop_still_stop_every_child(stack):
    stack.wait_for("Ctrl-C stops everything")

    stack.signal_group(signal.SIGTERM)
    stack.wait_for("Stopping portal", STOP_TIMEOUT)
    stack.signal_group(signal.SIGINT)  # a second Ctrl-C while the stop runs
    stack.wait_for("Stopping worker", STOP_TIMEOUT)
    stack.signal_group(signal.SIGTERM)

    _assert_stopped_in_order(stack)


def test_the_children_die_with_a_killed_devstack(stack):
    stack.wait_for("Started portal")

    stack.process.kill()  # SIGKILL: devstack stops nothing itself
    stack.process.wait()

    _assert_all_gone(stack)

"""The embedded development stack behind `make dev`: Temporal dev server, worker sidecar, portal.

`python manage.py devstack` runs each agent domain in a namespace of its own (unless AGENT_DOMAINS
says otherwise), starts (or reuses) a Temporal dev server on 127.0.0.1:7233 whose state lives in
var/temporal.db, creates the namespaces with a long retention so demo runs survive restarts,
migrates, seeds the demo users and loan applications, then runs `run_worker` and the portal under
daphne as child processes. Ctrl-C or SIGTERM stops every child it started (portal first, Temporal
last, so the worker can finish in-flight activities) and exits 0, however often the signal comes;
if a child dies on its own, the rest are stopped and the command exits 1. Each child also gets
SIGTERM if devstack itself dies without stopping it (SIGKILL): its parent-death signal.

Where it listens and keeps Temporal's state can be moved, so a second stack (a test) runs beside
the first: DEVSTACK_TEMPORAL_PORT (7233), DEVSTACK_UI_PORT (8233), PORTAL_PORT (8000) and
DEVSTACK_STATE_DIR (var/, for temporal.db). The portal's own files have their variables in
settings (DATABASE_URL, CLAIM_CHECK_DIR, the key files). The stack's processes, this one included,
talk to the Temporal server it started or reused (TEMPORAL_ADDRESS is set to it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from agents.framework.registry import AGENTS
from reviewer_portal.codec.keys import ensure_dev_keys
from reviewer_portal.domains import all_domains, namespaces
from reviewer_portal.operations.dev_server import store_args
from reviewer_portal.operations.management.commands.seed_demo import demo_users
from reviewer_portal.trust.archive_key import ensure_dev_archive_key
from reviewer_portal.trust.keys import ensure_dev_key

BIN_DIR = Path(sys.executable).parent
HOST = "127.0.0.1"
TEMPORAL_PORT = int(os.environ.get("DEVSTACK_TEMPORAL_PORT", "7233"))
TLS_FILES = ("TEMPORAL_TLS_CA", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY")
TEMPORAL_UI_PORT = int(os.environ.get("DEVSTACK_UI_PORT", "8233"))
PORTAL_PORT = int(os.environ.get("PORTAL_PORT", "8000"))
STATE_DIR = os.environ.get("DEVSTACK_STATE_DIR", "")  # default: var/ of the project
# Updates a run holds at once, in bytes: far above a reviewer action, far below the 2 MB at
# which refusing one would fail a workflow task (the refusal echoes the Update back).
TEMPORAL_DYNAMIC_CONFIG = ("history.maxInFlightUpdatePayloads=524288",)
STARTUP_TIMEOUT = 60.0
# The worker gives in-flight activities 20 s to finish after SIGTERM (agents.framework.worker).
STOP_TIMEOUT = 30.0


class StopRequested(Exception):
    """Raised from the SIGINT/SIGTERM handler so a stop interrupts any step, even start-up."""


class _Stop:
    # Set by the first SIGINT/SIGTERM, or when the stop begins: a repeated signal (a second Ctrl-C,
    # `kill -TERM -- -<pgid>` reaching make and devstack together) must not abort the stop.
    requested = False


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


class Command(BaseCommand):
    help = "Run the embedded stack: Temporal dev server, migrations, demo data, worker sidecar and portal."

    def handle(self, *args: object, **options: object) -> None:
        self.children: list[Child] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _raise_stop)
        exit_code = 0
        try:
            self.use_dev_domains()
            self.ensure_keys()
            self.ensure_temporal()
            call_command("migrate", interactive=False, verbosity=1)
            call_command("seed_demo")
            call_command("archive_schedule")
            if _answers(PORTAL_PORT):
                raise CommandError(f"Something already listens on {HOST}:{PORTAL_PORT}; stop it first.")
            self.spawn("worker", [sys.executable, "manage.py", "run_worker"])
            # Decisions recorded while Temporal or the worker was unreachable are sent from here.
            self.spawn("delivery", [sys.executable, "manage.py", "deliver_decisions", "--every", "30"])
            portal = ["-b", HOST, "-p", str(PORTAL_PORT), "reviewer_portal.asgi:application"]
            self.spawn("portal", [sys.executable, "-m", "daphne", *portal])
            self.wait_for_port(PORTAL_PORT, "portal")
            self.start_demo_conversation()
            self.print_banner()
            exit_code = self.supervise()
        except StopRequested as stop:
            self.stdout.write(f"{stop}: stopping.")
        except CommandError as err:
            self.stderr.write(str(err))
            exit_code = 1
        finally:
            # A second Ctrl-C must not abort the clean stop half-way: from here the handler only
            # notes it. One that lands before the flag is set interrupts nothing but this loop.
            while True:
                try:
                    _Stop.requested = True
                    self.stop_children()
                    break
                except StopRequested:
                    continue
        # seed_demo used a Temporal Client in this process, and its Rust threads can abort the
        # interpreter's teardown (temporalio/sdk-python#300): leave without one.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_code)

    def use_dev_domains(self) -> None:
        """A namespace per domain, for this process and the children it starts (an AGENT_DOMAINS
        in the environment wins)."""
        if os.environ.get("AGENT_DOMAINS"):
            return
        # Each registered agent in a namespace and on a task queue of its own, so a domain's
        # worker and keys cannot read another's payloads.
        settings.AGENT_DOMAINS = {agent: {"namespace": agent, "task_queue": agent} for agent in AGENTS}
        os.environ["AGENT_DOMAINS"] = json.dumps(settings.AGENT_DOMAINS)
        for domain in all_domains():
            self.stdout.write(
                f"Agent {domain.agent}: namespace {domain.namespace}, task queue {domain.task_queue}."
            )

    def ensure_keys(self) -> None:
        """Development keys, made once in var/keys/: for signing reviewer actions, for signing the
        archive chain, and for encrypting payloads in every namespace the stack uses."""
        if settings.PORTAL_SIGNING_KEY_FILE and not settings.PORTAL_SIGNING_KEY:
            path = Path(settings.PORTAL_SIGNING_KEY_FILE)
            if ensure_dev_key(path):
                self.stdout.write(f"Generated a development key for signing reviewer actions: {path}")
        if settings.ARCHIVE_SIGNING_KEY_FILE and not settings.ARCHIVE_SIGNING_KEY:
            path = Path(settings.ARCHIVE_SIGNING_KEY_FILE)
            if ensure_dev_archive_key(path):
                self.stdout.write(f"Generated a development key for signing the archive chain: {path}")
        if settings.PAYLOAD_KEYS_FILE and not settings.PAYLOAD_KEYS:
            path = Path(settings.PAYLOAD_KEYS_FILE)
            made = ensure_dev_keys(path, namespaces())
            if made:
                self.stdout.write(
                    f"Generated development keys for encrypting payloads in {', '.join(made)}: {path}"
                )

    def ensure_temporal(self) -> None:
        """Reuse a server on 127.0.0.1:7233, else start one on var/temporal.db; create the
        namespaces with their retention."""
        settings.TEMPORAL_ADDRESS = os.environ["TEMPORAL_ADDRESS"] = f"{HOST}:{TEMPORAL_PORT}"
        # A local dev server: a real cluster's API key or client certificate set in this shell is
        # never offered to whatever listens on that port (nor to the children, which inherit this).
        for name in ("TEMPORAL_API_KEY", "TEMPORAL_API_KEY_FILE", "TEMPORAL_TLS", *TLS_FILES):
            os.environ.pop(name, None)
        settings.TEMPORAL_API_KEY, settings.TEMPORAL_TLS = "", False
        os.environ.setdefault("TEMPORAL_UI_URL", f"http://{HOST}:{TEMPORAL_UI_PORT}")
        if _answers(TEMPORAL_PORT):
            self.stdout.write(f"Reusing the Temporal server already listening on {HOST}:{TEMPORAL_PORT}.")
        else:
            db = Path(STATE_DIR or Path(settings.BASE_DIR) / "var") / "temporal.db"
            db.parent.mkdir(parents=True, exist_ok=True)
            command = [
                str(BIN_DIR / "temporal"), "server", "start-dev", *store_args(db),
                "--ip", HOST, "--port", str(TEMPORAL_PORT), "--ui-port", str(TEMPORAL_UI_PORT),
                "--log-level", "error",
                # The Web UI decodes payloads through the portal (for those allowed to read them);
                # it names the namespace it shows in a header, which fills in "{namespace}".
                "--ui-codec-endpoint", f"http://{HOST}:{PORTAL_PORT}/codec/{{namespace}}",
                *(arg for value in TEMPORAL_DYNAMIC_CONFIG for arg in ("--dynamic-config-value", value)),
            ]  # fmt: skip
            self.spawn("temporal", command)
            self.wait_for_port(TEMPORAL_PORT, "temporal")
        for namespace in namespaces():
            self.ensure_namespace(namespace)

    def ensure_namespace(self, namespace: str) -> None:
        """Create the namespace, or update it, with TEMPORAL_RETENTION_DAYS of retention. Retries
        until the server is ready: its port answers a little before namespaces do."""
        retention = f"{settings.TEMPORAL_RETENTION_DAYS * 24}h"
        address = ["--namespace", namespace, "--address", f"{HOST}:{TEMPORAL_PORT}"]
        temporal = [str(BIN_DIR / "temporal"), "operator", "namespace"]
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            exists = subprocess.run([*temporal, "describe", *address], capture_output=True).returncode == 0
            verb = "update" if exists else "create"
            result = subprocess.run(
                [*temporal, verb, *address, "--retention", retention], capture_output=True, text=True
            )
            if result.returncode == 0:
                self.stdout.write(
                    f"Temporal namespace {namespace}: retention {settings.TEMPORAL_RETENTION_DAYS} days."
                )
                return
            if time.monotonic() > deadline:
                raise CommandError(f"Could not {verb} the namespace {namespace}: {result.stderr.strip()}")
            self.check_children()
            time.sleep(0.5)

    def spawn(self, name: str, command: list[str]) -> None:
        # Its own process group: a terminal's Ctrl-C reaches only this command, which then stops
        # the children in order instead of all at once.
        process = subprocess.Popen(dying_with_parent(command), cwd=settings.BASE_DIR, process_group=0)
        self.children.append(Child(name, process))
        self.stdout.write(f"Started {name} (pid {process.pid}).")

    def wait_for_port(self, port: int, name: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _answers(port):
            self.check_children()
            if time.monotonic() > deadline:
                raise CommandError(f"{name} did not listen on {HOST}:{port} within {STARTUP_TIMEOUT:.0f} s.")
            time.sleep(0.2)

    def check_children(self) -> None:
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                raise CommandError(f"{child.name} (pid {child.process.pid}) exited with code {code}.")

    def supervise(self) -> int:
        """Block until a child dies (exit 1) or a signal raises StopRequested."""
        try:
            while True:
                self.check_children()
                time.sleep(0.5)
        except CommandError as err:
            self.stderr.write(f"{err} Stopping the rest.")
            return 1

    def stop_children(self) -> None:
        """SIGTERM each child, newest first, and wait; SIGKILL one that outlasts STOP_TIMEOUT."""
        for child in reversed(self.children):
            process = child.process
            if process.poll() is not None:
                continue
            self.stdout.write(f"Stopping {child.name} (pid {process.pid})...")
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{child.name} ignored SIGTERM for {STOP_TIMEOUT:.0f} s: killing it.")
                process.kill()
                process.wait()
        self.children.clear()

    def start_demo_conversation(self) -> None:
        """The support agent's demo conversation: last, since its messages need the worker. The
        stack runs on without it if it cannot start."""
        if "support" not in AGENTS:
            return
        try:
            call_command("support_demo")
        except Exception as err:  # a demo must not stop the stack
            self.stderr.write(f"The demo support conversation did not start: {err}")

    def print_banner(self) -> None:
        password = "demo" if settings.DEMO_PASSWORD == "demo" else "the value of DEMO_PASSWORD"
        self.stdout.write(
            self.style.SUCCESS(
                "\n"
                f"  Reviewer portal   http://{HOST}:{PORTAL_PORT}\n"
                f"  Temporal Web UI   http://{HOST}:{TEMPORAL_UI_PORT}\n"
                f"  Demo logins       {', '.join([*demo_users(), 'admin'])} (password: {password})\n"
                "  Ctrl-C stops everything; data stays in var/.\n"
            )
        )


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    if _Stop.requested:  # the stop is already under way
        return
    _Stop.requested = True
    raise StopRequested(f"{signal.Signals(signum).name} received")


def dying_with_parent(command: list[str]) -> list[str]:
    """`command` run so that it gets SIGTERM if devstack dies without stopping it (SIGKILL, a
    supervisor giving up): util-linux's setpriv sets the child's parent-death signal, which
    outlives its exec. (devstack killed in the milliseconds before setpriv has set it leaves the
    child running.) Where there is no setpriv (not Linux), the command as it is."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else command


def _answers(port: int) -> bool:
    """Whether something accepts TCP connections on HOST:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0

"""Decision latency: a bare Temporal Update round trip against a reviewer's decision in the portal.

    python benchmarks/decision_latency.py [--temporal 127.0.0.1:7233] [--n 50] [--warmup 5]

Prints p50/p95 of, in the same run:

(a) a bare SDK Update round trip (`execute_update`, with a validator) on a minimal workflow, one
    Update per workflow run, timed around the SDK call;
(b) a portal decision: the HTTP POST to `/gates/<id>/decide/` on a loan gate, as htmx sends it,
    timed until the rendered decision panel has been read;

and the ratio b/a (target: at most 1.3). The samples are interleaved, a then b then b then a, so a
noisy machine slows both alike; warm-up samples are dropped. Untimed between samples: the GET of
the gate page (for a fresh form and CSRF token) and waiting for the decided loan run to finish, so
its follow-up activities do not overlap the next sample. Figures only: it never fails on them.

Everything it needs it sets up and tears down itself, given only a Temporal server: if nothing
listens at `--temporal`, it starts the dev server from this virtualenv's `temporal` on a free port.
It uses a throwaway SQLite database under var/, an in-process worker on a fresh task queue (the
real loan agent with the real projection activity, plus the minimal workflow) and the real portal
served by `daphne` as a subprocess with the same environment. To see where the portal's time
goes, `--portal-app module:app` serves a wrapper of the portal's ASGI app (on PYTHONPATH) instead.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

if TYPE_CHECKING:
    import httpx
    from temporalio.client import Client

    from benchmarks.signing_cost import SigningCost

T = TypeVar("T")

TARGET_RATIO = 1.3
OFFICER = "bench-officer"
SUBMITTER = "bench-intake"  # four eyes: the case is submitted by someone other than the reviewer
PASSWORD = "bench-password"  # a throwaway user in a throwaway database
PORTAL_APP = "reviewer_portal.asgi:application"


class BenchmarkError(RuntimeError):
    """Something in the setup or a sample went wrong; the message says what."""


# --- (a) the minimal workflow ---------------------------------------------------------------


@workflow.defn
class MinimalUpdateWorkflow:
    """Waits for one `decide` Update, then ends: the least a decision can cost in Temporal."""

    def __init__(self) -> None:
        self._decision: str | None = None

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self._decision is not None)
        assert self._decision is not None
        return self._decision

    @workflow.update
    def decide(self, decision: str) -> str:
        self._decision = decision
        return decision

    @decide.validator
    def validate_decide(self, decision: str) -> None:
        # Like the agent's validator: refuse before anything enters history.
        if self._decision is not None or decision not in ("approve", "reject"):
            raise ApplicationError(f"Refused decision {decision!r}", non_retryable=True)


# --- plumbing -------------------------------------------------------------------------------


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


class BackgroundLoop:
    """An asyncio loop on a daemon thread for the Temporal client and workers.

    The main thread stays synchronous (Django ORM, httpx) and hands coroutines over with `run`.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bench-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def is_listening(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(samples: list[float], p: int) -> float:
    """The p-th percentile, interpolated between the closest ranks."""
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


@contextmanager
def temporal_server(address: str, log_path: Path) -> Iterator[tuple[str, bool]]:
    """Yield (address, started): the server at `address`, or a headless dev server of our own.

    Our own is this virtualenv's `temporal server start-dev` (in-memory) on a free port, stopped
    when the context ends; its output goes to `log_path`.
    """
    if is_listening(address):
        yield address, False
        return
    binary = Path(sys.executable).parent / "temporal"
    if not binary.exists():
        raise BenchmarkError(f"Nothing listens at {address} and there is no {binary} to start a server")
    address = f"127.0.0.1:{free_port()}"
    command = [str(binary), "server", "start-dev", "--headless", "--ip", "127.0.0.1"]
    command += ["--port", address.rpartition(":")[2], "--log-level", "error"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        _wait_for_namespace(process, address, log_path)
        yield address, True
    finally:
        _stop(process)


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
            raise BenchmarkError(f"The Temporal dev server exited ({process.returncode}):\n{_tail(log_path)}")
        if is_listening(address) and asyncio.run(ready()):
            return
        time.sleep(0.2)
    raise BenchmarkError(f"The Temporal dev server did not start within 60 s:\n{_tail(log_path)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def scratch_files(keep: bool) -> Iterator[Path]:
    """Yield the stem for scratch files under var/ (database, logs); removed unless `keep`."""
    var = repo_root() / "var"
    var.mkdir(exist_ok=True)
    stem = var / f"bench-decision-{os.getpid()}"
    try:
        yield stem
    finally:
        if not keep:
            for path in var.glob(f"{stem.name}*"):
                path.unlink(missing_ok=True)


def setup_django(db: Path, temporal_address: str, task_queue: str) -> None:
    """Point Django (here, and the portal subprocess via the environment) at the scratch DB."""
    os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    os.environ["TEMPORAL_ADDRESS"] = temporal_address
    os.environ["TEMPORAL_TASK_QUEUE"] = task_queue
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewer_portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from reviewer_portal.trust.keys import generate

    # A throwaway key for signing the decisions, shared with the portal subprocess.
    os.environ["PORTAL_SIGNING_KEY"] = generate(key_id="bench-portal-key", dev=True).to_json()
    # Throwaway payload keys: every payload is encrypted, as in production (the codec is on).
    from agents.framework.codec import generate as generate_payload_keys

    os.environ["PAYLOAD_KEYS"] = generate_payload_keys(["default"], dev=True).to_json()
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)

    from django.contrib.auth.models import Group, User

    from reviewer_portal.accounts.roles import CREDIT_OFFICER

    officers = Group.objects.get(name=CREDIT_OFFICER)
    for username in (OFFICER, SUBMITTER):
        User.objects.create_user(username=username, password=PASSWORD).groups.add(officers)


@contextmanager
def workers(bg: BackgroundLoop, client: Client, task_queue: str) -> Iterator[str]:
    """Run the loan agent's worker (with the real projection activity) and the minimal workflow's.

    Yields the minimal workflow's task queue; the agent's is `task_queue`.
    """
    from temporalio.worker import Worker

    from agents.framework.llm import LlmSettings
    from agents.framework.registry import AGENTS
    from agents.framework.worker import build_worker
    from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES

    minimal_queue = f"{task_queue}-minimal"
    executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="bench-activity")

    async def build() -> list[Worker]:  # a Worker must be created on the loop that runs it
        agent_worker = build_worker(
            client,
            task_queue=task_queue,
            agents=[AGENTS["loans"]],
            llm=LlmSettings(),  # the offline model
            portal_activities=PORTAL_ACTIVITIES,
            executor=executor,
        )
        return [agent_worker, Worker(client, task_queue=minimal_queue, workflows=[MinimalUpdateWorkflow])]

    running = bg.run(build())
    tasks = [asyncio.run_coroutine_threadsafe(w.run(), bg.loop) for w in running]
    try:
        yield minimal_queue
    finally:
        for w in running:
            bg.run(w.shutdown())
        for task in tasks:
            task.result(30)
        executor.shutdown(wait=True)


@contextmanager
def portal_server(log_path: Path, app: str = PORTAL_APP) -> Iterator[str]:
    """Serve the portal with daphne (same environment as this process); yield its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=repo_root(), env=os.environ.copy(), stdout=log, stderr=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(process, base_url, log_path)
        yield base_url
    finally:
        _stop(process)


def _wait_until_serving(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchmarkError(f"The portal exited ({process.returncode}):\n{_tail(log_path)}")
        try:
            if httpx.get(f"{base_url}/accounts/login/", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise BenchmarkError(f"The portal did not answer within 60 s:\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --- setup of the cases ---------------------------------------------------------------------


def start_loan_gates(client: Client, count: int, started: list[str], timeout: float = 300) -> list[str]:
    """Submit `count` loan applications through the intake service; wait for their projected gates.

    Returns the gate ids, all pending for a credit officer other than the submitter; the workflow
    ids are added to `started`.
    """
    from django.contrib.auth.models import User

    from agents.loans.intake import LoanApplication
    from reviewer_portal.inbox.models import Gate
    from reviewer_portal.intake.services import intake_submit

    submitter = User.objects.get(username=SUBMITTER)
    workflow_ids = []
    for i in range(count):
        application = LoanApplication(f"Applicant {i:03d}", 18_000, 48, "renovation", 62_000, 450, 742)
        workflow_id = intake_submit(
            agent="loans",
            values=application.run_request().case,
            submitted_by=submitter,
            submission_id=str(uuid.uuid4()),
        )
        workflow_ids.append(workflow_id)
        started.append(workflow_id)
    deadline = time.monotonic() + timeout
    pending = Gate.objects.filter(workflow_id__in=workflow_ids, status=Gate.Status.PENDING)
    while (ready := pending.count()) < count:
        if time.monotonic() > deadline:
            raise BenchmarkError(f"Only {ready} of {count} loan gates were projected in {timeout:.0f} s")
        time.sleep(0.2)
    return list(pending.order_by("gate_id").values_list("gate_id", flat=True))


def start_minimal_workflows(
    bg: BackgroundLoop, client: Client, task_queue: str, count: int, started: list[str]
) -> list[str]:
    """Start `count` minimal workflows and wait until each has run its first workflow task."""

    async def start() -> list[str]:
        handles = []
        for _ in range(count):
            workflow_id = f"bench-minimal-{uuid.uuid4().hex[:12]}"
            handles.append(
                await client.start_workflow(MinimalUpdateWorkflow.run, id=workflow_id, task_queue=task_queue)
            )
            started.append(workflow_id)
        for handle in handles:
            # Started, task scheduled, started, completed: now it waits for the Update, like a gate.
            while (await handle.describe()).history_length < 4:
                await asyncio.sleep(0.05)
        return [h.id for h in handles]

    return bg.run(start(), timeout=300)


# --- the two measurements -------------------------------------------------------------------


def time_sdk_update(bg: BackgroundLoop, client: Client, workflow_id: str) -> float:
    """(a) One `execute_update` round trip on a waiting minimal workflow, in seconds."""

    async def measure() -> float:
        handle = client.get_workflow_handle_for(MinimalUpdateWorkflow.run, workflow_id)
        started = time.perf_counter()
        answer = await handle.execute_update(MinimalUpdateWorkflow.decide, "approve", id=str(uuid.uuid4()))
        elapsed = time.perf_counter() - started
        if answer != "approve" or await handle.result() != "approve":
            raise BenchmarkError(f"Minimal workflow {workflow_id} answered {answer!r}")
        return elapsed

    return bg.run(measure())


@dataclass
class Portal:
    """A logged-in reviewer's browser session on the portal, reduced to what a decision needs."""

    http: httpx.Client

    @classmethod
    def login(cls, base_url: str, username: str, password: str) -> Portal:
        import httpx

        http = httpx.Client(base_url=base_url, timeout=30)
        page = http.get("/accounts/login/")
        response = http.post(
            "/accounts/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": _hidden_input(page.text, "csrfmiddlewaretoken"),
            },
        )
        if response.status_code != 302:
            raise BenchmarkError(f"Login as {username} failed: HTTP {response.status_code}")
        return cls(http)

    def time_decision(self, gate_id: str) -> float:
        """(b) One approval through the decide view, in seconds (the claim and the gate page GET
        before it are not timed: a loan gate is claimed before it is decided)."""
        self._claim(gate_id)
        page = self.http.get(f"/gates/{gate_id}/")
        if page.status_code != 200:
            raise BenchmarkError(f"GET gate {gate_id}: HTTP {page.status_code}")
        form = {
            "decision": "approve",
            "reason": "Affordable, clean credit file.",
            "submission_id": str(uuid.uuid4()),
            "revision": _hidden_input(page.text, "revision"),
        }
        headers = {"HX-Request": "true", "X-CSRFToken": _hidden_input(page.text, "csrfmiddlewaretoken")}
        started = time.perf_counter()
        response = self.http.post(f"/gates/{gate_id}/decide/", data=form, headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or "recorded by the agent" not in response.text:
            raise BenchmarkError(
                f"Decision on {gate_id} not recorded: HTTP {response.status_code}\n{response.text[:2000]}"
            )
        return elapsed

    def _claim(self, gate_id: str) -> None:
        page = self.http.get(f"/gates/{gate_id}/")
        data = {"submission_id": str(uuid.uuid4())}
        headers = {"HX-Request": "true", "X-CSRFToken": _hidden_input(page.text, "csrfmiddlewaretoken")}
        response = self.http.post(f"/gates/{gate_id}/claim/", data=data, headers=headers)
        if response.status_code != 200 or "(you)" not in response.text:
            raise BenchmarkError(
                f"Claim of {gate_id} failed: HTTP {response.status_code}\n{response.text[:2000]}"
            )

    def close(self) -> None:
        self.http.close()


def _hidden_input(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', html)
    if match is None:
        raise BenchmarkError(f"No {name} field in the page")
    return match.group(1)


def wait_for_run(bg: BackgroundLoop, client: Client, workflow_id: str) -> None:
    """Let a decided loan run finish its follow-up work, so it does not overlap the next sample."""

    async def result() -> None:
        outcome = (await client.get_workflow_handle(workflow_id).result()).get("outcome")
        if outcome != "approved":
            raise BenchmarkError(f"Loan run {workflow_id} ended {outcome!r}, not approved")

    bg.run(result())


def terminate_unfinished(bg: BackgroundLoop, client: Client, workflow_ids: list[str]) -> None:
    """After a failure, leave no run of ours waiting on someone else's server."""
    from temporalio.client import WorkflowExecutionStatus

    async def terminate() -> None:
        for workflow_id in workflow_ids:
            handle = client.get_workflow_handle(workflow_id)
            with suppress(Exception):
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate(reason="decision latency benchmark ended")

    bg.run(terminate())


@dataclass
class Samples:
    sdk: list[float] = field(default_factory=list)
    portal: list[float] = field(default_factory=list)


def measure(
    bg: BackgroundLoop,
    client: Client,
    portal: Portal,
    gate_ids: list[str],
    minimal_ids: list[str],
    warmup: int,
) -> Samples:
    """Take one (a) and one (b) sample per step, alternating which goes first; drop the warm-up."""
    from reviewer_portal.inbox.models import Gate

    workflow_of = dict(Gate.objects.filter(gate_id__in=gate_ids).values_list("gate_id", "workflow_id"))
    samples = Samples()
    for step, (gate_id, minimal_id) in enumerate(zip(gate_ids, minimal_ids, strict=True)):
        if step % 2 == 0:
            sdk = time_sdk_update(bg, client, minimal_id)
            decision = portal.time_decision(gate_id)
        else:
            decision = portal.time_decision(gate_id)
            sdk = time_sdk_update(bg, client, minimal_id)
        wait_for_run(bg, client, workflow_of[gate_id])
        if step >= warmup:
            samples.sdk.append(sdk)
            samples.portal.append(decision)
    return samples


# --- report ---------------------------------------------------------------------------------


def report(samples: Samples, warmup: int, temporal: str, started_server: bool, signing: SigningCost) -> str:
    """The figures as a small table, with the command that produced them."""
    a50, a95 = (percentile(samples.sdk, p) * 1000 for p in (50, 95))
    b50, b95 = (percentile(samples.portal, p) * 1000 for p in (50, 95))
    server = "dev server started by the benchmark" if started_server else "existing server"
    verdict = "met" if b50 / a50 <= TARGET_RATIO and b95 / a95 <= TARGET_RATIO else "NOT met"
    command = shlex.join(["python", "benchmarks/decision_latency.py", *sys.argv[1:]])
    return "\n".join(
        [
            f"Decision latency: Temporal {temporal} ({server}); {warmup} warm-up samples of each excluded",
            "",
            f"{'':38} {'n':>4} {'p50 ms':>9} {'p95 ms':>9}",
            f"{'(a) SDK Update round trip (minimal)':38} {len(samples.sdk):>4} {a50:>9.2f} {a95:>9.2f}",
            f"{'(b) portal decision (POST decide)':38} {len(samples.portal):>4} {b50:>9.2f} {b95:>9.2f}",
            f"{'ratio b/a':38} {'':>4} {b50 / a50:>9.2f} {b95 / a95:>9.2f}"
            f"   target <= {TARGET_RATIO}: {verdict}",
            "",
            "Of (b): signing the decision in the portal and verifying it in the workflow's validator,",
            "timed apart in this process (benchmarks/signing_cost.py):",
            *signing.lines(),
            "",
            f"command: {command}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--temporal", default="127.0.0.1:7233", help="Temporal frontend host:port")
    parser.add_argument("--n", type=int, default=50, help="samples of each measurement (after warm-up)")
    parser.add_argument("--warmup", type=int, default=5, help="samples of each to take first and drop")
    parser.add_argument(
        "--portal-app",
        default=PORTAL_APP,
        help="ASGI app for daphne to serve; a wrapper on PYTHONPATH can time the portal's steps",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch DB and portal log in var/")
    args = parser.parse_args(argv)
    if args.n < 2 or args.warmup < 0:
        parser.error("--n must be at least 2 and --warmup at least 0")
    count = args.n + args.warmup
    task_queue = f"bench-decision-{uuid.uuid4().hex[:10]}"

    bg = BackgroundLoop()
    try:
        with ExitStack() as stack:
            scratch = stack.enter_context(scratch_files(args.keep))
            address, started_server = stack.enter_context(
                temporal_server(args.temporal, scratch.with_name(f"{scratch.name}-temporal.log"))
            )
            setup_django(scratch.with_name(f"{scratch.name}.sqlite3"), address, task_queue)
            from reviewer_portal.temporal_client import connect

            client = bg.run(connect())
            minimal_queue = stack.enter_context(workers(bg, client, task_queue))
            started: list[str] = []
            if not started_server:  # our own server goes away with everything on it
                stack.callback(terminate_unfinished, bg, client, started)
            print(f"Preparing {count} loan gates and minimal workflows on {address}...", file=sys.stderr)
            gate_ids = start_loan_gates(client, count, started)
            minimal_ids = start_minimal_workflows(bg, client, minimal_queue, count, started)
            base_url = stack.enter_context(
                portal_server(scratch.with_name(f"{scratch.name}-portal.log"), args.portal_app)
            )
            portal = Portal.login(base_url, OFFICER, PASSWORD)
            stack.callback(portal.close)
            print("Measuring...", file=sys.stderr)
            samples = measure(bg, client, portal, gate_ids, minimal_ids, args.warmup)
            from benchmarks.signing_cost import measure_signing

            signing = measure_signing()
        print(report(samples, args.warmup, address, started_server, signing))
    except BenchmarkError as err:
        print(f"benchmark failed: {err}", file=sys.stderr)
        return 1
    finally:
        bg.close()
    return 0


if __name__ == "__main__":
    # Run as a script, the workflow must still come from an importable module for the sandbox.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.decision_latency import main as bench_main

    sys.exit(bench_main())

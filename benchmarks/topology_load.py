"""Production-topology load test (issue 12), run by hand, not in CI: one Temporal dev server, two
worker sidecars, two portal processes (daphne), the delivery loop, PostgreSQL and Redis; applications submitted and
decided through the portal's HTTP interface by simulated reviewers.

    python benchmarks/topology_load.py [--applications 1000] [--reviewers 20]
        [--database-url postgres://postgres@127.0.0.1:5432/rp_topology_load]
        [--redis-url redis://127.0.0.1:6379/6] [--submitters 10] [--timeout 3600]

It creates (dropping any earlier copy) its own PostgreSQL database, migrates it and makes the users:
credit officers who submit, and `--reviewers` credit officers who review (four eyes: never their
own). Then, as a browser would (login form, CSRF cookie and header, htmx posts), `--submitters`
threads post the loan intake form `--applications` times, and each reviewer, on the portal
process it is given (round robin), reads the inbox, opens a gate, claims it and decides it:
approve or reject at random, one in five against the AI's recommendation, so the confirm step is
answered too (inbox/confirmation.py). A claim lost to a colleague, or a gate already taken, sends
the reviewer back to the inbox (counted, not an error).

Prints throughput, p50/p95 per step (submit, gate reached: submit to the gate in the projection,
claim, decide) and errors, then checks every run: exactly one accepted decision in the portal's
database and exactly one accepted `decide` Update in its Temporal history (0 lost, 0 doubled).
Exits 1 if any check fails or any error was counted.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "load-test-password"  # throwaway users in a throwaway database
LOAN = {
    "applicant_name": "Ada Byron",
    "amount": "12000",
    "term_months": "36",
    "purpose": "car",
    "annual_income": "55000",
    "monthly_debts": "300",
    "credit_score": "720",
}
GATE_LINK = re.compile(r'href="/gates/([^/"?]+)/"')
HIDDEN = re.compile(r'name="(submission_id|revision|confirm_token)"[^>]*?value="([^"]*)"')
CONFIRM = re.compile(r'name="confirm_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s")
        time.sleep(0.2)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else float("nan")


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.retries: dict[str, int] = defaultdict(int)
        self.decided: list[str] = []  # workflow ids whose decide post the portal answered as taken

    def took(self, step: str, seconds: float) -> None:
        with self.lock:
            self.times[step].append(seconds * 1000)

    def error(self, step: str, detail: str) -> None:
        with self.lock:
            self.errors[step] += 1
            if self.errors[step] <= 5:
                print(f"  error in {step}: {detail[:300]}", file=sys.stderr, flush=True)


class Browser:
    """A logged-in session on one portal process, posting as the page's htmx does."""

    def __init__(self, base: str, username: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=120, follow_redirects=False)
        page = self.http.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, "no CSRF token on the login page"
        response = self.http.post(
            "/accounts/login/",
            data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
            headers={"Referer": f"{base}/accounts/login/"},
        )
        assert response.status_code == 302, f"login of {username} failed: {response.status_code}"

    def post(self, path: str, data: dict[str, str], *, htmx: bool = True) -> httpx.Response:
        headers = {"X-CSRFToken": self.http.cookies.get("csrftoken", ""), "Referer": str(self.http.base_url)}
        if htmx:
            headers.update({"HX-Request": "true", "HX-Current-URL": f"{self.http.base_url}{path}"})
        return self.http.post(path, data=data, headers=headers)


def submitter(base: str, username: str, count: int, stats: Stats, submitted: dict[str, float]) -> None:
    browser = Browser(base, username)
    for _ in range(count):
        submission_id = str(uuid.uuid4())
        form = browser.http.get("/applications/new/")
        began = time.perf_counter()
        response = browser.post("/applications/new/", {**LOAN, "submission_id": submission_id}, htmx=False)
        if response.status_code == 302:
            stats.took("submit", time.perf_counter() - began)
            submitted[f"loan-{submission_id}"] = time.time()
        else:
            stats.error("submit", f"{response.status_code}: {response.text[:200]} (form {form.status_code})")


def reviewer(base: str, username: str, stats: Stats, done: threading.Event, rng: random.Random) -> None:
    browser = Browser(base, username)
    while not done.is_set():
        inbox = browser.http.get("/")
        if inbox.status_code != 200:
            stats.error("inbox", str(inbox.status_code))
            continue
        gates = list(dict.fromkeys(GATE_LINK.findall(inbox.text)))
        if not gates:
            time.sleep(0.5)
            continue
        review(browser, rng.choice(gates[:20]), stats, rng)


def review(browser: Browser, gate_id: str, stats: Stats, rng: random.Random) -> None:
    page = browser.http.get(f"/gates/{gate_id}/")
    if page.status_code != 200:
        stats.retries["gate gone"] += 1  # decided or moved meanwhile
        return
    claim_form = re.search(
        r'/gates/[^"]+/claim/".*?name="submission_id"[^>]*?value="([^"]+)"', page.text, re.S
    )
    if claim_form:
        began = time.perf_counter()
        claimed = browser.post(f"/gates/{gate_id}/claim/", {"submission_id": claim_form.group(1)})
        if claimed.status_code != 200:
            stats.error("claim", f"{claimed.status_code}: {claimed.text[:200]}")
            return
        stats.took("claim", time.perf_counter() - began)
        page = browser.http.get(f"/gates/{gate_id}/")
    if 'name="decision"' not in page.text:
        stats.retries["held by another"] += 1  # a colleague claimed it first
        return
    fields = dict(HIDDEN.findall(page.text.split('/decide/"', 1)[-1]))
    recommended = (
        "reject" if re.search(r"recommend\w*\W+(?:to\s+)?(reject|decline)", page.text, re.I) else "approve"
    )
    against = rng.random() < 0.2
    decision = ("reject" if recommended == "approve" else "approve") if against else recommended
    data = {
        "decision": decision,
        "reason": "Checked against policy (load test).",
        "submission_id": fields.get("submission_id", str(uuid.uuid4())),
        "revision": fields.get("revision", "0"),
    }
    began = time.perf_counter()
    response = browser.post(f"/gates/{gate_id}/decide/", data)
    asked = CONFIRM.search(response.text)
    if asked:
        data.update(confirmed="on", confirm_token=html.unescape(asked.group(1)))
        response = browser.post(f"/gates/{gate_id}/decide/", data)
        stats.retries["confirm step"] += 1
    if response.status_code == 200 and 'class="msg error"' not in response.text:
        stats.took("decide", time.perf_counter() - began)
        with stats.lock:
            stats.decided.append(gate_id.split("--")[0])
    else:
        stats.error("decide", f"{response.status_code}: {re.sub(r'<[^>]+>', ' ', response.text)[:300]}")


def gate_watch(
    submitted: dict[str, float], reached: dict[str, float], stats: Stats, stop: threading.Event
) -> None:
    """Polls the projection: when each submitted run's gate first shows up."""
    from django.db import connection

    from reviewer_portal.inbox.models import Gate

    while not stop.is_set():
        waiting = [w for w in list(submitted) if w not in reached]
        for workflow_id in Gate.objects.filter(workflow_id__in=waiting).values_list("workflow_id", flat=True):
            reached[workflow_id] = time.time()
            stats.took("gate reached", reached[workflow_id] - submitted[workflow_id])
        time.sleep(0.5)
    connection.close()


async def decide_updates(address: str, workflow_ids: list[str]) -> dict[str, int]:
    """How many `decide` Updates each run's Temporal history accepted."""
    from temporalio.api.enums.v1 import EventType

    from reviewer_portal.temporal_client import connect

    client = await connect()
    limit = asyncio.Semaphore(20)
    counts: dict[str, int] = {}

    async def count(workflow_id: str) -> None:
        async with limit:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        counts[workflow_id] = sum(
            1
            for event in history.events
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
            and event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            == "decide"
        )

    await asyncio.gather(*(count(w) for w in workflow_ids))
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=1000)
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--submitters", type=int, default=10)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/rp_topology_load")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds for every decision")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop what it started on the way out

    import psycopg
    from django.db.backends.postgresql.psycopg_any import sql

    from agents.framework.codec import generate as generate_payload_keys
    from reviewer_portal.trust.keys import generate as generate_signing_key

    database = args.database_url.rsplit("/", 1)[1]
    with psycopg.connect(args.database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    work = Path(tempfile.mkdtemp(prefix="topology-load-", dir=ROOT / "var"))
    temporal_port, portal_ports = free_port(), [free_port(), free_port()]
    os.environ.update(
        DJANGO_SETTINGS_MODULE="reviewer_portal.settings",
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}",
        TEMPORAL_TASK_QUEUE=f"load-{uuid.uuid4().hex[:8]}",
        CLAIM_CHECK_DIR=str(work / "claims"),
        DOCUMENT_STORE_DIR=str(work / "documents"),
        PAYLOAD_KEYS=generate_payload_keys(["default"]).to_json(),
        PORTAL_SIGNING_KEY=generate_signing_key(key_id=f"load-{uuid.uuid4().hex[:6]}").to_json(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
    )
    processes: list[subprocess.Popen[bytes]] = []

    def spawn(*command: str) -> None:
        processes.append(subprocess.Popen(list(command), cwd=ROOT, stdout=subprocess.DEVNULL))

    try:
        temporal = str(Path(sys.executable).parent / "temporal")
        spawn(temporal, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(temporal_port),
              "--db-filename", str(work / "temporal.db"), "--log-level", "error")  # fmt: skip
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
        import django

        django.setup()
        from django.contrib.auth.models import Group, User

        from reviewer_portal.inbox.models import ActionAttempt, Gate

        officers = Group.objects.get_or_create(name="credit_officer")[0]
        submitters = [f"submitter{i}" for i in range(args.submitters)]
        reviewers = [f"reviewer{i}" for i in range(args.reviewers)]
        for name in submitters + reviewers:
            User.objects.create_user(name, password=PASSWORD).groups.add(officers)
        wait_for_port(temporal_port)
        for _ in range(2):
            spawn(sys.executable, "manage.py", "run_worker")
        # As in production: decisions Temporal did not take in time are sent again from here.
        spawn(sys.executable, "manage.py", "deliver_decisions", "--every", "10")
        for port in portal_ports:
            spawn(
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "reviewer_portal.asgi:application",
            )
        for port in portal_ports:
            wait_for_port(port)
        bases = [f"http://127.0.0.1:{port}" for port in portal_ports]
        print(f"Topology: Temporal 127.0.0.1:{temporal_port}, 2 workers, portals {', '.join(bases)}, "
              f"PostgreSQL {database}, Redis {args.redis_url}", flush=True)  # fmt: skip

        stats, submitted, reached = Stats(), {}, {}
        stop, done = threading.Event(), threading.Event()
        began = time.monotonic()
        watcher = threading.Thread(target=gate_watch, args=(submitted, reached, stats, stop), daemon=True)
        watcher.start()
        shares = [
            args.applications // args.submitters + (i < args.applications % args.submitters)
            for i in range(args.submitters)
        ]
        threads = [
            threading.Thread(target=submitter, args=(bases[i % 2], name, shares[i], stats, submitted))
            for i, name in enumerate(submitters)
        ] + [
            threading.Thread(target=reviewer, args=(bases[i % 2], name, stats, done, random.Random(i)), daemon=True)
            for i, name in enumerate(reviewers)
        ]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads[: args.submitters]:
            thread.join()
        submitted_in = time.monotonic() - began
        deadline = time.monotonic() + args.timeout
        while Gate.objects.exclude(status=Gate.Status.PENDING).count() < len(submitted):
            if time.monotonic() > deadline:
                stats.error("timeout", f"not every run was decided within {args.timeout:.0f} s")
                break
            time.sleep(1)
        elapsed = time.monotonic() - began
        done.set()
        stop.set()

        # A decision the run took while its reply was lost is still "undelivered" in the database
        # until the delivery loop sends it again: let the loop settle before counting.
        settle = time.monotonic() + 120
        while (
            ActionAttempt.objects.filter(status__in=ActionAttempt.OPEN).exists() and time.monotonic() < settle
        ):
            time.sleep(2)
        workflow_ids = sorted(submitted)
        accepted = defaultdict(int)
        for workflow_id in ActionAttempt.objects.filter(
            action=ActionAttempt.Action.DECIDE, status=ActionAttempt.Status.ACCEPTED
        ).values_list("gate__workflow_id", flat=True):
            accepted[workflow_id] += 1
        in_history = asyncio.run(decide_updates(os.environ["TEMPORAL_ADDRESS"], workflow_ids))
        report(args, stats, len(submitted), submitted_in, elapsed, workflow_ids, accepted, in_history)
        lost, doubled, _ = verdicts(stats, workflow_ids, accepted, in_history)
        return 1 if lost or doubled or sum(stats.errors.values()) or len(submitted) < args.applications else 0
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(40)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


def report(
    args: Any, stats: Stats, submitted: int, submitted_in: float, elapsed: float,
    workflow_ids: list[str], accepted: dict[str, int], in_history: dict[str, int],
) -> None:  # fmt: skip
    decided = len(stats.times["decide"])
    print(f"\n{submitted} of {args.applications} applications submitted in {submitted_in:.1f} s "
          f"({submitted / submitted_in:.1f}/s); {decided} decided in {elapsed:.1f} s ({decided / elapsed:.1f}/s) "
          f"by {args.reviewers} reviewers on 2 portal processes, 2 workers")  # fmt: skip
    for step in ("submit", "gate reached", "claim", "decide"):
        times = stats.times[step]
        print(f"  {step:13} n {len(times):5}  p50 {percentile(times, 0.5):8.1f} ms  p95 {percentile(times, 0.95):8.1f} ms  errors {stats.errors[step]}")  # fmt: skip
    other = {
        step: n
        for step, n in stats.errors.items()
        if step not in ("submit", "gate reached", "claim", "decide")
    }
    print(f"  other errors {other or 0}; not errors: {dict(stats.retries)}")
    lost, doubled, undecided = verdicts(stats, workflow_ids, accepted, in_history)
    print(
        f"  decisions per run ({len(workflow_ids)} runs): lost {len(lost)}, doubled {len(doubled)}"
        f" (database or Temporal history); never decided (out of time) {len(undecided)}"
    )


def verdicts(
    stats: Stats, workflow_ids: list[str], accepted: dict[str, int], in_history: dict[str, int]
) -> tuple[list[str], list[str], list[str]]:
    """Lost: a decision the portal took, or one in either record, missing from the other (or both).
    Doubled: more than one in either. Undecided: none anywhere, no reviewer got to it in time."""
    taken = set(stats.decided)
    lost, doubled, undecided = [], [], []
    for w in workflow_ids:
        db, history = accepted.get(w, 0), in_history.get(w, 0)
        if db > 1 or history > 1:
            doubled.append(w)
        elif db != history or (w in taken and db == 0):
            lost.append(w)
        elif db == 0:
            undecided.append(w)
    return lost, doubled, undecided


if __name__ == "__main__":
    sys.exit(main())

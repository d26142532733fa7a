"""The portal under a team: requests/s, p50/p95 and server CPU per request for the inbox, with 1, 20
and 50 reviewers at once, served by 1 and 2 ASGI worker processes.

    python benchmarks/portal_load.py [--gates 10000] [--processes 1,2] [--concurrency 1,20,50]
        [--seconds 6] [--warmup 1.5] [--handlers portal,django] [--clients httpx,raw]
        [--loops uvloop,asyncio] [--keep]

It seeds a throwaway database with `--gates` pending gates (and as many decided) the way
benchmarks/inbox_scale.py does (SQLite under var/, or a new PostgreSQL database beside
DATABASE_URL's when it points at PostgreSQL), signs in 50 reviewers (credit officer and senior
credit officer, each a session of its own), runs `collectstatic` and serves the real portal
(`reviewer_portal.asgi:application`, DEBUG off, as in production) with `manage.py serve_portal
--processes N` (N uvicorn processes on one port, each on uvloop's event loop as in production;
`--loops uvloop,asyncio` serves with each in turn, the loop then named beside the handler).

Simulated reviewers (httpx, one keep-alive connection each, back to back, no think time) then
request, for `--seconds` after `--warmup`, one kind at a time:

- page: the inbox page, `/` (the reviewer's own navigation; its session is saved each time);
- poll: the inbox table as static/js/live.js re-reads it (`HX-Request`, `X-Portal-Background`,
  and `If-None-Match` with the version the last table carried, when the page carries one);
  the projection does not change meanwhile, so this is the poll that finds nothing new;
- poll re-read: the same request without `If-None-Match`: what the first poll after a change of
  the projection costs (the whole table read and rendered).

Each row prints requests/s, p50 and p95 of the wall-clock time per request, and the server's CPU
time per request: utime + stime of the uvicorn processes (from /proc/<pid>/stat, the supervisor
and its workers) after minus before, divided by the requests served. Beside it, the CPU the
simulated reviewers' client (this process) spent per request: on one machine it shares the
cores with the server, so its cost is in every latency printed. `--clients httpx,raw` measures
with httpx and with a raw keep-alive client (benchmarks/raw_http.py) in turn, against the same
server. The machine is shared:
compare rows of one run (the ratio column is against 1 process at concurrency 1, same kind).
Figures only: it never fails on them.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.figures import load_average, percentile
from benchmarks.portal_load_report import report
from benchmarks.portal_server import served_portal
from benchmarks.processes import cpu_seconds
from benchmarks.scratch import scratch_database
from reviewer_portal.operations.management.commands.serve_portal import LOOPS

REVIEWERS = 50
# The HTTP handlers --handlers compares: the portal's (long-lived request threads keeping their
# connections, one hop for a sync view's whole middleware chain: reviewer_portal/http_handler.py)
# and Django's stock one (a thread and a connection per request, a hop per middleware).
# The simulated reviewers' HTTP client: httpx, or a raw keep-alive client on asyncio streams
# (benchmarks/raw_http.py) spending less of the cores the server shares with it.
CLIENTS = ("httpx", "raw")
HANDLERS = {"portal": "reviewer_portal.asgi:application", "django": "benchmarks.stock_asgi:application"}
ROLES = ("credit_officer", "senior_credit_officer")
VERSION = re.compile(rb'data-inbox-version="([^"]*)"')
POLL_HEADERS = {
    "HX-Request": "true",
    "HX-Target": "gate-table",
    "HX-Trigger": "gate-table",
    "X-Portal-Background": "1",
}
KINDS = ("page", "poll", "poll re-read")


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def seed(url: str, gates: int) -> list[str]:
    """Fill the projection and sign in the reviewers; returns their session keys."""
    from benchmarks.gate_rows import fill_to
    from benchmarks.inbox_scale import setup_django

    setup_django(url)
    fill_to(gates, 0, random.Random(7))
    from django.contrib.auth.models import Group, User
    from django.test import Client

    groups = [Group.objects.get(name=role) for role in ROLES]
    keys = []
    for n in range(REVIEWERS):
        user = User.objects.create(username=f"reviewer-{n:02d}")  # no password: no hashing
        user.groups.add(*groups)
        client = Client()
        client.force_login(user)
        keys.append(client.cookies["sessionid"].value)
    return keys


def throwaway_payload_keys() -> str:
    """Payload keys, not development ones, for the namespaces the test suite's keys cover."""
    from reviewer_portal.codec.keys import PayloadKeys, generate

    known = PayloadKeys.from_json((repo_root() / "tests" / "keys" / "payload-keys.json").read_text())
    return generate(list(known.namespaces), dev=False).to_json()


async def reviewer(client: Any, kind: str, version: str, window: tuple[float, float]) -> list[float]:
    """Back-to-back requests until the window's end; the times of those that ended inside it."""
    record_from, stop_at = window
    samples = []
    while (started := time.perf_counter()) < stop_at:
        headers = {}
        if kind != "page":
            headers = {**POLL_HEADERS, "HX-Current-URL": f"{client.base_url}"}
            if kind == "poll" and version:
                headers["If-None-Match"] = version
        response = await client.get("/", headers=headers)
        ended = time.perf_counter()
        if response.status_code not in (200, 204):
            raise RuntimeError(f"{kind}: HTTP {response.status_code}")
        if response.status_code == 200 and b'id="gate-table"' not in response.content:
            raise RuntimeError(f"{kind}: no gate table")
        if kind == "poll" and (found := VERSION.search(response.content)):
            version = html.unescape(found.group(1).decode())
        if record_from <= ended <= stop_at:
            samples.append(ended - started)
    return samples


def make_client(kind: str, base: str, session: str) -> Any:
    """One reviewer's connection: httpx (what a Python client would use), or the raw client
    (benchmarks/raw_http.py), which leaves more of the shared cores to the server."""
    cookie = {"Cookie": f"sessionid={session}"}
    if kind == "raw":
        from benchmarks.raw_http import RawClient

        return RawClient(base, cookie)
    import httpx

    return httpx.AsyncClient(base_url=base, headers=cookie, timeout=120)


async def run_cell(
    base: str,
    pid: int,
    sessions: list[str],
    kind: str,
    concurrency: int,
    seconds: float,
    warmup: float,
    client_kind: str = "httpx",
) -> dict[str, float]:
    """Requests and CPU over one window: requests that ended in it, and the CPU the server and
    the simulated reviewers' client (this process) spent in it."""
    clients = [make_client(client_kind, base, key) for key in sessions[:concurrency]]
    # Each reviewer has its page open (its connection made, the table's version read) first.
    pages = await asyncio.gather(*(client.get("/") for client in clients))
    versions = [
        html.unescape(found.group(1).decode()) if (found := VERSION.search(p.content)) else "" for p in pages
    ]
    start = time.perf_counter()
    window = (start + warmup, start + warmup + seconds)
    tasks = [
        asyncio.create_task(reviewer(c, kind, v, window)) for c, v in zip(clients, versions, strict=True)
    ]
    await asyncio.sleep(window[0] - time.perf_counter())
    cpu_before, client_before = cpu_seconds(pid), time.process_time()
    await asyncio.sleep(window[1] - time.perf_counter())
    cpu_after, client_after = cpu_seconds(pid), time.process_time()
    samples = [s for each in await asyncio.gather(*tasks) for s in each]
    for client in clients:
        await client.aclose()
    return {
        "rps": len(samples) / seconds,
        "p50": percentile(samples, 50) * 1000,
        "p95": percentile(samples, 95) * 1000,
        "cpu_ms": (cpu_after - cpu_before) * 1000 / max(len(samples), 1),
        "client_cpu_ms": (client_after - client_before) * 1000 / max(len(samples), 1),
        "n": len(samples),
    }


def collect_static(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=repo_root(),
        env=env,
        check=True,
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gates", type=int, default=10_000, help="pending gates")
    parser.add_argument("--processes", default="1,2", help="portal processes, comma-separated")
    parser.add_argument("--concurrency", default="1,20,50", help="reviewers at once, comma-separated")
    parser.add_argument("--kinds", default=",".join(KINDS), help="what the reviewers request")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured per row")
    parser.add_argument("--warmup", type=float, default=1.5, help="unmeasured first, per row")
    parser.add_argument("--handlers", default="portal", help=f"among {', '.join(HANDLERS)}, taking turns")
    parser.add_argument("--clients", default="httpx", help=f"among {', '.join(CLIENTS)}, taking turns")
    parser.add_argument("--loops", default="uvloop", help=f"among {', '.join(LOOPS)}, taking turns")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)
    processes = [int(p) for p in args.processes.split(",")]
    concurrency = [int(c) for c in args.concurrency.split(",")]
    kinds = [k.strip() for k in args.kinds.split(",")]
    handlers = [h.strip() for h in args.handlers.split(",")]
    client_kinds = [c.strip() for c in args.clients.split(",")]
    loops = [loop.strip() for loop in args.loops.split(",")]
    if (
        max(concurrency) > REVIEWERS
        or set(kinds) - set(KINDS)
        or set(handlers) - set(HANDLERS)
        or set(client_kinds) - set(CLIENTS)
        or set(loops) - set(LOOPS)
    ):
        parser.error(
            f"at most {REVIEWERS} reviewers; kinds among {', '.join(KINDS)}; handlers among "
            f"{', '.join(HANDLERS)}; clients among {', '.join(CLIENTS)}; loops among {', '.join(LOOPS)}"
        )

    server = os.environ.get("DATABASE_URL", "")
    on_postgresql = server.startswith(("postgres://", "postgresql://"))
    var = repo_root() / "var"
    static_root = var / f"bench-portal-static-{os.getpid()}"
    log = var / f"bench-portal-{os.getpid()}.log"
    load_before = load_average()
    rows = []
    with scratch_database("bench-inbox", args.keep, server if on_postgresql else "") as url:
        print(f"Seeding {args.gates:,} pending gates and {REVIEWERS} sessions...", file=sys.stderr)
        os.environ["SECRET_KEY"] = secrets.token_urlsafe(40)  # the server's: sessions hash with it
        sessions = seed(url, args.gates)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DEBUG": "false",
            "SECURE_SSL_REDIRECT": "false",
            "STATIC_ROOT": str(static_root),
            "LOG_LEVEL": "WARNING",
        }
        for name in ("DJANGO_SETTINGS_MODULE", "PAYLOAD_KEYS_FILE", "PORTAL_SIGNING_KEY_FILE"):
            env.pop(name, None)  # what the seeding's development settings put there
        env["PAYLOAD_KEYS"] = throwaway_payload_keys()  # production refuses development keys
        try:
            collect_static(env)
            for count, handler, loop in itertools.product(processes, handlers, loops):
                # The loop is named where several take turns: a lone one keeps the rows' shape.
                served = handler if len(loops) == 1 else f"{handler}:{loop}"
                with served_portal(env, count, log, HANDLERS[handler], loop) as (base, pid):
                    for kind, client, n in itertools.product(kinds, client_kinds, concurrency):
                        print(
                            f"{count} process(es), {served}, {kind}, {client}, {n} reviewers...",
                            file=sys.stderr,
                        )
                        cell = asyncio.run(
                            run_cell(base, pid, sessions, kind, n, args.seconds, args.warmup, client)
                        )
                        rows.append((count, f"{served}/{client}", kind, n, cell))
        finally:
            shutil.rmtree(static_root, ignore_errors=True)
    print(report(rows, args.gates, load_before, "PostgreSQL" if on_postgresql else "SQLite"))
    log.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Live push latency: a worker-side push in one process to a reviewer's WebSocket on the portal.

    python benchmarks/live_push.py [--n 100] [--warmup 10]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres] [--redis-url redis://127.0.0.1:6379/5]

Prints p50/p95 of send -> receive for each channel layer, in the same run:

- the database layer on SQLite (a throwaway file under var/);
- the database layer on PostgreSQL (a throwaway database created on the `--database-url` server,
  dropped at the end; this row is left out without `--database-url`);
- channels-redis at `--redis-url` (the production default, the baseline),

and the ratio of each database layer to Redis. Per layer: the real portal served by `daphne` as a
subprocess (as in benchmarks/decision_latency.py), a credit officer signed in over HTTP and
subscribed on `/ws/gates/`, and a sender process doing what the worker sidecar does after a
projection write: on its push loop (reviewer_portal.live.broadcast), `group_send` of a
`gate.changed` event to the gate's groups (ALL_GATES, then the role's group). The send time (wall
clock, the same on one machine for both processes) travels in the event's gate id; sends are spaced
50-150 ms at random, so they fall at every phase of a poll. Figures only: it never fails on them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.figures import command_line, percentile
from benchmarks.portal_server import portal_server
from benchmarks.reviewer_session import signed_in
from benchmarks.scratch import scratch_files, scratch_postgresql

ROOT = Path(__file__).resolve().parent.parent
OFFICER = "bench-live-officer"
PASSWORD = "bench-password"  # a throwaway user in a throwaway database
ROLE = "credit_officer"
TARGET_P95_MS = 100.0


@dataclass
class Case:
    label: str
    env: dict[str, str]  # DATABASE_URL, REDIS_URL for the portal and the sender


# --- the sender and the set-up: subprocesses with the case's environment ---------------------


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewer_portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def setup_database() -> None:
    """Migrate the case's database and create the signed-in reviewer."""
    django_setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from reviewer_portal.accounts.roles import CREDIT_OFFICER

    call_command("migrate", verbosity=0, interactive=False)
    User.objects.create_user(username=OFFICER, password=PASSWORD).groups.add(
        Group.objects.get(name=CREDIT_OFFICER)
    )


def send(count: int, seed: int) -> None:
    """Push `count` gate changes the way broadcast.announce_gate_change does, one at a time."""
    django_setup()
    from channels.layers import get_channel_layer

    from reviewer_portal.live.broadcast import EVENT_TYPE, push_loop, send_to_groups
    from reviewer_portal.live.groups import ALL_GATES, role_group

    layer = get_channel_layer()
    assert layer is not None
    groups = [ALL_GATES, role_group(ROLE)]

    async def push(event: dict[str, object]) -> None:
        await send_to_groups(layer, groups, event)

    pace = random.Random(seed)
    for i in range(count):
        time.sleep(pace.uniform(0.05, 0.15))
        event = {"type": EVENT_TYPE, "gate_id": f"bench-{i}-{time.time_ns()}", "status": "pending"}
        event |= {"role": ROLE, "version": 1}
        asyncio.run_coroutine_threadsafe(push(event), push_loop()).result(10)
    print("sent", flush=True)


# --- a WebSocket client just big enough for this (no client library among the requirements) ----


async def open_socket(base_url: str, cookies: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws/gates/ HTTP/1.1\r\nHost: {url.netloc}\r\nOrigin: {base_url}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Cookie: {cookies}\r\n\r\n"
    )
    writer.write(request.encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"WebSocket refused: {head.decode(errors='replace')}")
    return reader, writer


async def read_text_frame(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str | None:
    """The next text message from the server (server frames are unmasked); None on close.
    Pings are answered: daphne closes a socket that leaves its pings unanswered."""
    while True:
        first, second = await reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await reader.readexactly(8))
        data = await reader.readexactly(length)
        opcode = first & 0x0F
        if opcode == 0x8:
            return None
        if opcode == 0x1:
            return data.decode()
        if opcode == 0x9:  # a pong with the ping's data, masked as every client frame must be
            mask = os.urandom(4)
            masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            writer.write(bytes([0x8A, 0x80 | len(data)]) + mask + masked)


# --- one case -------------------------------------------------------------------------------


def run_case(case: Case, count: int, log_stem: Path) -> list[float]:
    """Send->receive latencies in ms, in the order sent."""
    env = {**os.environ, **case.env}
    subprocess.run([sys.executable, __file__, "--setup"], env=env, check=True, cwd=ROOT)
    with (
        patched_environ(case.env),
        portal_server(log_stem.with_name(f"{log_stem.name}-portal.log")) as base_url,
    ):
        http = signed_in(base_url, OFFICER, PASSWORD)
        cookies = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
        http.close()
        return asyncio.run(receive(base_url, cookies, env, count))


async def receive(base_url: str, cookies: str, env: dict[str, str], count: int) -> list[float]:
    reader, writer = await open_socket(base_url, cookies)
    sender = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--send", str(count), env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    latencies: dict[int, float] = {}
    try:
        while len(latencies) < count:
            text = await asyncio.wait_for(read_text_frame(reader, writer), 30)
            if text is None:
                raise RuntimeError("The portal closed the WebSocket")
            received = time.time_ns()
            _, i, sent = json.loads(text)["gate_id"].split("-")
            latencies[int(i)] = (received - int(sent)) / 1e6
    finally:
        writer.close()
        await sender.wait()
    return [latencies[i] for i in range(count)]


@contextmanager
def patched_environ(changes: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --- report ---------------------------------------------------------------------------------


def report(results: dict[str, list[float]], warmup: int, baseline: str | None) -> str:
    rows = [f"{'layer':38} {'n':>4} {'p50 ms':>9} {'p95 ms':>9} {'p50/Redis':>10} {'p95/Redis':>10}"]
    base = results.get(baseline) if baseline else None
    for label, samples in results.items():
        p50, p95 = percentile(samples, 50), percentile(samples, 95)
        ratios = ""
        if base:
            ratios = f" {p50 / percentile(base, 50):>10.1f} {p95 / percentile(base, 95):>10.1f}"
        rows.append(f"{label:38} {len(samples):>4} {p50:>9.1f} {p95:>9.1f}{ratios}")
    database = [label for label in results if label.startswith("database")]
    met = all(percentile(results[label], 95) <= TARGET_P95_MS for label in database)
    command = command_line("benchmarks/live_push.py")
    return "\n".join(
        [
            f"Live push: group_send in a sender process -> daphne -> WebSocket; {warmup} warm-up sends excluded",
            "",
            *rows,
            "",
            f"target: database layer p95 <= {TARGET_P95_MS:.0f} ms: {'met' if met else 'NOT met'}",
            f"command: {command}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="pushes measured per layer (after warm-up)")
    parser.add_argument("--warmup", type=int, default=10, help="pushes sent first and not counted")
    parser.add_argument(
        "--database-url", help="a PostgreSQL server (any database on it) for the PostgreSQL row"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5", help="Redis for the baseline row")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases and logs in var/")
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--send", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.setup:
        setup_database()
        return 0
    if args.send is not None:
        send(args.send, seed=os.getpid())
        return 0
    if args.n < 2 or args.warmup < 0:
        parser.error("--n must be at least 2 and --warmup at least 0")

    no_redis = {"REDIS_URL": ""}
    results: dict[str, list[float]] = {}
    with ExitStack() as stack:
        stem = stack.enter_context(scratch_files("bench-live", args.keep))
        cases = [Case("database layer, SQLite", {"DATABASE_URL": f"sqlite:///{stem}-db.sqlite3", **no_redis})]
        if args.database_url:
            url = stack.enter_context(scratch_postgresql(args.database_url, stem.name.replace("-", "_")))
            cases.append(Case("database layer, PostgreSQL", {"DATABASE_URL": url, **no_redis}))
        redis = {"DATABASE_URL": f"sqlite:///{stem}-redis.sqlite3", "REDIS_URL": args.redis_url}
        cases.append(Case("Redis (channels-redis, baseline)", redis))
        for case in cases:
            print(f"Measuring {case.label}...", file=sys.stderr)
            samples = run_case(case, args.n + args.warmup, stem.with_name(f"{stem.name}-{len(results)}"))
            results[case.label] = samples[args.warmup :]
    print(report(results, args.warmup, baseline="Redis (channels-redis, baseline)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

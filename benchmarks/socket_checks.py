"""Idle sockets' session checks in one serving process: each socket checking on its own (before)
against the process's sweep (now, reviewer_portal.live.session_checks), in the same run.

    python benchmarks/socket_checks.py [--sockets 500] [--recheck 6] [--seconds 20] [--rounds 3]
                                       [--database-url postgres://postgres@127.0.0.1:5432/postgres]

N reviewers, each with one socket open on the real /ws/gates/ consumer (channels' in-process
communicator on the portal's ASGI application, the in-memory channel layer), and nothing pushed:
all the database sees is the periodic session checks. The check's interval is shortened from 60 s
to `--recheck` seconds, so the figures per second scale by 60/recheck for production (500 sockets
at 6 s stand for 5,000 at 60 s). Over `--seconds`, after one interval of settling, per mode: the
checks made, the database calls made for them (thread hops; each opens and closes a connection,
CONN_MAX_AGE being 0), and the CPU seconds of this process per 1,000 checks; on PostgreSQL also
the server sessions opened (`pg_stat_database.sessions`, a backend process each). The modes
alternate round by round, each with its sockets opened afresh; medians over rounds. A throwaway
database: SQLite under var/, or a new database beside `--database-url`. Figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.figures import command_line, load_average
from benchmarks.scratch import scratch_database, throwaway_keys

HOST = b"localhost"


@dataclass
class Figures:
    checks: int
    calls: int
    cpu_seconds: float
    sessions: int | None  # PostgreSQL server sessions opened; None on SQLite


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.update(throwaway_keys("bench-socket-checks"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewer_portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    call_command("migrate", verbosity=0, interactive=False)


def session_cookies(n: int) -> list[bytes]:
    """N reviewers (credit officers), each signed in once: their session cookies."""
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.test import Client

    role, _ = Group.objects.get_or_create(name="credit_officer")
    cookies = []
    for i in range(n):
        user = User.objects.create(username=f"bench-socket-{i}")
        user.groups.add(role)
        client = Client()
        client.force_login(user)
        cookies.append(
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()
        )
    return cookies


def server_sessions() -> int | None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        (sessions,) = cursor.fetchone()
    connection.close()
    return int(sessions)


def each_alone() -> Any:
    """The checks as they were made before: one database call each, on each socket's own time."""
    from channels.db import database_sync_to_async

    from reviewer_portal.live import access
    from reviewer_portal.live.session_checks import SessionChecks

    def check(session_key: str | None, user_pk: Any) -> list[str] | None:
        return access.groups_allowed(session_key, user_pk)

    one = database_sync_to_async(check, thread_sensitive=False)

    class EachAlone(SessionChecks):
        async def allowed(
            self, session_key: str | None, user_pk: Any, *, urgent: bool = True
        ) -> list[str] | None:
            answer: list[str] | None = await one(session_key, user_pk)
            return answer

        async def sweep_after(self, seconds: float) -> None:
            await asyncio.sleep(seconds)

    return EachAlone()


async def one_round(mode: str, cookies: list[bytes], recheck: float, seconds: float) -> Figures:
    import channels.db
    from channels.testing import WebsocketCommunicator

    from reviewer_portal.asgi import application
    from reviewer_portal.live import access, consumers, session_checks

    consumers.RECHECK_SECONDS = recheck
    session_checks.SWEEP_SECONDS = min(5.0, recheck / 2)
    loop = asyncio.get_running_loop()
    session_checks._per_loop[loop] = each_alone() if mode == "before" else session_checks.SessionChecks()
    sockets = []
    for cookie in cookies:
        headers = [(b"origin", b"http://" + HOST), (b"host", HOST), (b"cookie", cookie)]
        ws = WebsocketCommunicator(application, "/ws/gates/", headers=headers)
        if not (await ws.connect(timeout=30))[0]:
            raise SystemExit("a socket was refused: the benchmark's set-up is wrong")
        sockets.append(ws)
    await asyncio.sleep(recheck)  # each socket's first periodic check falls at a random moment
    checks = calls = 0
    check, around_each_call = access.groups_allowed, channels.db.close_old_connections

    def counted_check(*args: Any) -> Any:
        nonlocal checks
        checks += 1
        return check(*args)

    def counted_call() -> None:
        nonlocal calls
        calls += 1
        around_each_call()

    sessions = await asyncio.to_thread(server_sessions)
    session_checks.groups_allowed = counted_check  # the sweep's calls
    access.groups_allowed = counted_check  # and each_alone's calls
    channels.db.close_old_connections = counted_call
    cpu = time.process_time()
    await asyncio.sleep(seconds)
    cpu = time.process_time() - cpu
    channels.db.close_old_connections = around_each_call
    session_checks.groups_allowed = access.groups_allowed = check
    await asyncio.sleep(1)
    after = await asyncio.to_thread(server_sessions)
    for ws in sockets:
        await ws.disconnect()
    del session_checks._per_loop[loop]
    opened = None if sessions is None or after is None else after - sessions
    return Figures(checks=checks, calls=calls // 2, cpu_seconds=cpu, sessions=opened)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--recheck", type=float, default=6.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--database-url", default="", help="a PostgreSQL server to make a throwaway database on"
    )
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with scratch_database("bench-socket-checks", args.keep, args.database_url) as url:
        setup_django(url)
        cookies = session_cookies(args.sockets)
        results: dict[str, list[Figures]] = {"before": [], "now": []}
        for r in range(args.rounds):
            for mode in ("before", "now") if r % 2 == 0 else ("now", "before"):
                results[mode].append(asyncio.run(one_round(mode, cookies, args.recheck, args.seconds)))
        report(results, args)


def report(results: dict[str, list[Figures]], args: argparse.Namespace) -> None:
    def median(mode: str, value: Any) -> float:
        return statistics.median(value(f) for f in results[mode])

    print(command_line("benchmarks/socket_checks.py"))
    print(
        f"{args.sockets} idle sockets, a check every {args.recheck:g} s (60 in production), "
        f"{args.seconds:g} s a round, median over {args.rounds} rounds; load {load_average()}"
    )
    print(
        f"{'':28}{'checks/s':>10}{'db calls/s':>12}{'checks/call':>13}{'CPU ms/1k checks':>18}{'pg sessions/s':>15}"
    )
    rows = {}
    for mode, label in (("before", "each on its own (before)"), ("now", "the sweep (now)")):
        checks = median(mode, lambda f: f.checks / args.seconds)
        calls = median(mode, lambda f: f.calls / args.seconds)
        cpu = median(mode, lambda f: 1000 * 1000 * f.cpu_seconds / max(f.checks, 1))
        opened = [f.sessions for f in results[mode] if f.sessions is not None]
        sessions = f"{statistics.median(opened) / args.seconds:15.1f}" if opened else f"{'-':>15}"
        rows[mode] = (calls, cpu)
        print(f"{label:28}{checks:10.1f}{calls:12.1f}{checks / max(calls, 1e-9):13.1f}{cpu:18.1f}{sessions}")
    print(
        f"ratio now/before: db calls {rows['now'][0] / rows['before'][0]:.3f}, "
        f"CPU per check {rows['now'][1] / rows['before'][1]:.2f}"
    )


if __name__ == "__main__":
    main()

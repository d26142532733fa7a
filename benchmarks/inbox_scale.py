"""Inbox at scale: server time of the inbox's first page with 100 and with 10,000 pending gates.

    python benchmarks/inbox_scale.py [--sizes 100 10000] [--n 200] [--warmup 20] [--without-indexes]
        [--backend sqlite postgresql] [--without-search-index]

For each size it fills the gate projection directly (bulk_create; no Temporal) with that many
pending gates, plus as many decided ones, as a projection that has been in use a while holds:
loans, advice and regulatory gates across five queues, deadlines spread over the SLA, some
escalated, claimed or at risk. Row shapes follow what the agents publish (case, rationale, tool
results), so a scan costs what it would.

It then times GET requests to the inbox in-process, with Django's test Client: the whole
middleware stack, session login, the view, its queries and template rendering; no network and no
server. The user is a credit officer who is also a senior credit officer (two queues). Pages:

- first page, no filters: `/`
- first page, filtered: a queue, SLA on time, agent, amount range, sorted by amount (largest first)
- first page, search: free text over subject and applicant name, at-risk gates, oldest first
- htmx poll: the filtered table fragment the page polls every 20 s
- search queries alone: the search page's own two queries (its count and its first 25 rows,
  through gate_rows_for), without the rest of the page, to tell search apart from what every page costs

The samples go round-robin over the pages, warm-up samples are dropped, and it prints wall-clock
p50/p95 per page and size, with the ratio of the largest size to the smallest (target: p95 <= 50
ms at 10,000 and <= 2x the 100-gate figure), and the median CPU time of the request's thread with
the machine's load average: on a busy machine the wall clock includes waiting for a CPU.
`--without-indexes` measures with the indexes there were before the inbox's (only gate_queue on
status, role, deadline); `--without-search-index` searches by scanning, as before the search index.
It uses a throwaway SQLite database under var/ (removed unless --keep), with DEBUG off so Django
does not record every query. With DATABASE_URL set to a PostgreSQL server it measures there too,
in a throwaway database it creates beside DATABASE_URL's (the role needs CREATEDB): each backend
in its own process, one after the other. Search uses the search index on both (reviewer_portal.search:
SQLite FTS5, PostgreSQL pg_trgm). Figures only: it never fails on them.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import warnings
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.figures import command_line, load_average, percentile
from benchmarks.gate_rows import USERNAME, fill_to
from benchmarks.scratch import scratch_database

TARGET_P95_MS = 50.0
BACKENDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
TARGET_RATIO = 2.0
SEARCH_TEXT = "haddad"
SEARCH_QUERIES = "search queries alone"
# The inbox's indexes (Gate.Meta.indexes, migration inbox 0006). --without-indexes puts back what
# was there before: only gate_queue, on (status, role, deadline).
INBOX_INDEXES = ("gate_queue", "gate_pending_deadline", "gate_pending_opened", "gate_pending_amount")
INDEX_BEFORE = {"fields": ["status", "role", "deadline"], "name": "gate_queue"}
PAGES = {
    "first page, no filters": ("/", {}),
    "first page, filtered": (
        "/?queue=credit_officer&sla=on_time&agent=loans&min_amount=1000&max_amount=50000&sort=-amount",
        {},
    ),
    "first page, search": (f"/?q={SEARCH_TEXT}&sort=-age", {}),
    "htmx poll, filtered": (
        "/?queue=credit_officer&sla=on_time&agent=loans&min_amount=1000&max_amount=50000&sort=-amount",
        {"HX-Request": "true"},
    ),
}


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewer_portal.settings")
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    warnings.filterwarnings("ignore", message="No directory at")  # static files are not served here
    settings.DEBUG = False  # no query log; the settings that derive from DEBUG keep their dev values
    call_command("migrate", verbosity=0, interactive=False)

    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=USERNAME, password="unused")
    for role in ("credit_officer", "senior_credit_officer"):
        user.groups.add(Group.objects.get_or_create(name=role)[0])


def indexes_from_before() -> list[str]:
    """Replace the inbox's indexes with the one there was before them; returns those dropped."""
    from django.db import connection, models

    from reviewer_portal.inbox.models import Gate

    dropped = []
    with connection.schema_editor() as editor:
        for index in Gate._meta.indexes:
            if index.name in INBOX_INDEXES:
                editor.remove_index(Gate, index)
                dropped.append(index.name)
        editor.add_index(Gate, models.Index(**INDEX_BEFORE))
    return dropped


def without_search_index() -> None:
    """Search as before reviewer_portal.search: no candidates from the index, a scan."""
    from django.db.models import Q

    from reviewer_portal.inbox import selectors

    selectors.search_candidates = lambda text: Q()


def measure(n: int, warmup: int) -> dict[str, list[tuple[float, float]]]:
    """Time each page `n` times (after `warmup` untimed rounds), round-robin: (wall, CPU) seconds.

    CPU is this thread's time: on a busy machine it shows how much of the wall time is waiting.
    """
    from django.contrib.auth.models import User
    from django.test import Client

    from reviewer_portal.inbox.selectors import GateFilters, gate_rows_for

    user = User.objects.get(username=USERNAME)
    client = Client()
    client.force_login(user)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in [*PAGES, SEARCH_QUERIES]}
    for step in range(warmup + n):
        for name, (url, headers) in PAGES.items():
            started, cpu_started = time.perf_counter(), time.thread_time()
            response = client.get(url, headers=headers)
            elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
            if response.status_code != 200 or b'id="gate-table"' not in response.content:
                raise RuntimeError(f"{name}: HTTP {response.status_code}, or no gate table")
            if step >= warmup:
                samples[name].append((elapsed, cpu))
        started, cpu_started = time.perf_counter(), time.thread_time()
        rows = gate_rows_for(user=user, filters=GateFilters(q=SEARCH_TEXT, sort="-age"))
        found = rows.count()
        first = list(rows[:25])
        elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
        if not found or not first:
            raise RuntimeError(f"{SEARCH_QUERIES}: found nothing")
        if step >= warmup:
            samples[SEARCH_QUERIES].append((elapsed, cpu))
    return samples


def report(
    results: dict[int, dict[str, list[tuple[float, float]]]], dropped: list[str], load: str, backend: str
) -> str:
    sizes = sorted(results)
    small, large = sizes[0], sizes[-1]
    indexes = "with the indexes from before the inbox's" if dropped else "with the inbox indexes"
    if "--without-search-index" in sys.argv:
        indexes += ", search by scan (no search index)"
    lines = [
        f"Inbox first page, server time in-process (Django test Client, {BACKENDS[backend]}, {indexes}).",
        "Each size: that many pending gates plus as many decided; the user works 2 of the 5 queues.",
        f"Load average (1/5/15 min) before and after: {load}",
        "",
        f"{'page':24} {'pending':>8} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'CPU p50':>8}",
    ]
    for name in results[small]:
        p95 = {}
        for size in sizes:
            wall = [w for w, _ in results[size][name]]
            cpu = [c for _, c in results[size][name]]
            p95[size] = percentile(wall, 95) * 1000
            lines.append(
                f"{name:24} {size:>8,} {len(wall):>5} {percentile(wall, 50) * 1000:>8.2f} {p95[size]:>8.2f}"
                f" {percentile(cpu, 50) * 1000:>8.2f}"
            )
        ratio = p95[large] / p95[small]
        met = p95[large] <= TARGET_P95_MS and ratio <= TARGET_RATIO
        lines.append(
            f"{'':24} p95 {large:,} / {small:,} = {ratio:.2f}x"
            f"   target <= {TARGET_P95_MS:.0f} ms and <= {TARGET_RATIO:.0f}x: {'met' if met else 'NOT met'}"
        )
    lines += ["", f"command: {command_line('benchmarks/inbox_scale.py')}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000], help="pending gates")
    parser.add_argument("--n", type=int, default=200, help="timed requests per page and size")
    parser.add_argument("--warmup", type=int, default=20, help="untimed rounds first, per size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--without-indexes", action="store_true", help="measure with the indexes from before the inbox's"
    )
    parser.add_argument(
        "--without-search-index", action="store_true", help="search by scanning, as before the search index"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    server = os.environ.get("DATABASE_URL", "")
    on_postgresql = server.startswith(("postgres://", "postgresql://"))
    parser.add_argument(
        "--backend",
        nargs="+",
        choices=sorted(BACKENDS),
        default=["sqlite", "postgresql"] if on_postgresql else ["sqlite"],
        help="default: SQLite, and PostgreSQL when DATABASE_URL points at it",
    )
    args = parser.parse_args(argv)
    if args.n < 2 or sorted(args.sizes) != args.sizes or args.sizes[0] < 26:
        parser.error("--n must be at least 2; --sizes ascending, each at least 26 (more than a page)")

    if "postgresql" in args.backend and not on_postgresql:
        parser.error(
            "--backend postgresql needs DATABASE_URL=postgres://... (a server to create a database on)"
        )
    if len(args.backend) > 1:
        # Django sets up one database per process: each backend runs in a process of its own.
        own_args = list(sys.argv[1:] if argv is None else argv)
        if "--backend" in own_args:
            at = own_args.index("--backend")
            own_args[at : at + 1 + len(args.backend)] = []
        for number, backend in enumerate(args.backend):
            print("" if number == 0 else "\n", end="", flush=True)
            command = [sys.executable, str(Path(__file__).resolve()), *own_args, "--backend", backend]
            if subprocess.run(command, check=False).returncode:
                return 1
        return 0

    rng = random.Random(args.seed)
    load_before = load_average()
    backend = args.backend[0]
    with scratch_database("bench-inbox", args.keep, server if backend == "postgresql" else "") as url:
        setup_django(url)
        dropped = indexes_from_before() if args.without_indexes else []
        if args.without_search_index:
            without_search_index()
        results, have = {}, 0
        for size in args.sizes:
            print(f"Filling the projection to {size:,} pending gates...", file=sys.stderr)
            have = fill_to(size, have, rng)
            print(f"Measuring {len(PAGES)} pages x {args.n}...", file=sys.stderr)
            results[size] = measure(args.n, args.warmup)
    print(report(results, dropped, f"{load_before} and {load_average()} on {os.cpu_count()} CPUs", backend))
    return 0


if __name__ == "__main__":
    sys.exit(main())

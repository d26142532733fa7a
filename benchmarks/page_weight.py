"""Page weight: bytes a browser transfers, compressed, to show the inbox and a gate page.

    python benchmarks/page_weight.py [--gates 50] [--keep]

A first load with an empty cache: the page's HTML plus every stylesheet and script it links, each
asked for with `Accept-Encoding: gzip` as a browser would (the response bodies as sent, plus their
status lines and headers; "plain B" is each body uncompressed, for comparison). Target: at most
40 KB per page.

The portal runs as it is deployed: DEBUG off, static files built by collectstatic into a scratch
folder (hashed, pre-compressed; WhiteNoise serves them), pages compressed by GZipMiddleware. The
requests go through Django's test Client in-process, the whole middleware stack but no network. The
inbox is a credit officer's with `--gates` pending loan gates (its first page shows 25), filled
into a throwaway SQLite database under var/ as benchmarks/inbox_scale.py fills it; the gate page
is one of those gates. Figures only: it never fails on them.
"""

from __future__ import annotations

import os
import random
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Django is set up at run time, after the scratch database is chosen
    from django.test import Client

TARGET_BYTES = 40 * 1024
USERNAME = "bench-officer"
ASSET = re.compile(r'<(?:link[^>]+href|script[^>]+src)="(/static/[^"]+)"')


@dataclass
class Transfer:
    url: str
    body: int  # bytes of the body as sent (compressed when the server compressed it)
    headers: int  # bytes of the status line and headers
    encoding: str
    plain: int  # bytes of the body asked for without compression, for comparison

    @property
    def total(self) -> int:
        return self.body + self.headers


def setup_django(db: Path, static_root: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    os.environ["STATIC_ROOT"] = str(static_root)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewer_portal.settings")
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    warnings.filterwarnings("ignore", message="No directory at")
    # As deployed: no DEBUG, hashed and pre-compressed static files (settings pick these from
    # DEBUG at import, before this script could turn it off).
    settings.DEBUG = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0, interactive=False)

    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=USERNAME, password="unused")
    user.groups.add(Group.objects.get_or_create(name="credit_officer")[0])


def fill(gates: int, rng: random.Random) -> str:
    """`gates` pending loan gates in the credit officer's queue; returns one gate's id."""
    from benchmarks.gate_rows import gate_rows
    from reviewer_portal.inbox.models import Gate

    rows = []
    for row in gate_rows(0, 100 * gates, rng):
        if row.agent == "loans" and row.status == Gate.Status.PENDING:
            row.role = "credit_officer"
            rows.append(row)
        if len(rows) == gates:
            break
    Gate.objects.bulk_create(rows)
    return rows[0].gate_id


def body_of(client: Client, url: str, **headers: str) -> tuple[Any, bytes]:
    response = client.get(url, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"{url}: HTTP {response.status_code}")
    return response, b"".join(response.streaming_content) if response.streaming else response.content


def transfer(client: Client, url: str) -> Transfer:
    response, body = body_of(client, url, **{"Accept-Encoding": "gzip"})
    status = f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n"
    headers = "".join(f"{name}: {value}\r\n" for name, value in response.items())
    cookies = "".join(f"Set-Cookie: {morsel.OutputString()}\r\n" for morsel in response.cookies.values())
    encoding = response.get("Content-Encoding", "none")
    return Transfer(
        url, len(body), len(status + headers + cookies) + 2, encoding, len(body_of(client, url)[1])
    )


def first_load(client: Client, url: str) -> list[Transfer]:
    page = transfer(client, url)
    html = body_of(client, url)[1].decode()  # uncompressed, to read what the page links
    return [page, *(transfer(client, asset) for asset in dict.fromkeys(ASSET.findall(html)))]


def report(pages: dict[str, list[Transfer]], gates: int) -> str:
    from benchmarks.figures import command_line

    lines = [
        "Page weight of a first load (empty cache), compressed (Accept-Encoding: gzip), DEBUG off,",
        f"static files built by collectstatic; the inbox of a credit officer with {gates} pending gates.",
        "",
        f"{'page':10} {'resource':52} {'encoding':>8} {'body B':>8} {'+headers':>9} {'plain B':>8}",
    ]
    for name, transfers in pages.items():
        for t in transfers:
            lines.append(
                f"{name:10} {t.url[:52]:52} {t.encoding:>8} {t.body:>8,} {t.total:>9,} {t.plain:>8,}"
            )
        total = sum(t.total for t in transfers)
        met = "met" if total <= TARGET_BYTES else "NOT met"
        lines.append(
            f"{name:10} {'total (HTML + CSS/JS)':52} {'':>8} {sum(t.body for t in transfers):>8,}"
            f" {total:>9,} {sum(t.plain for t in transfers):>8,}"
            f"   {total / 1024:.1f} KB, target <= {TARGET_BYTES // 1024} KB: {met}"
        )
        lines.append("")
    lines.append(f"command: {command_line('benchmarks/page_weight.py')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gates", type=int, default=50, help="pending gates in the officer's queue")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database and static files")
    args = parser.parse_args(argv)
    if args.gates < 1:
        parser.error("--gates must be at least 1")

    var = Path(__file__).resolve().parent.parent / "var"
    var.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-weight-", dir=var))
    try:
        setup_django(scratch / "portal.sqlite3", scratch / "static")
        gate_id = fill(args.gates, random.Random(args.seed))

        from django.contrib.auth.models import User
        from django.test import Client

        client = Client()
        client.force_login(User.objects.get(username=USERNAME))
        pages = {"inbox": first_load(client, "/"), "gate page": first_load(client, f"/gates/{gate_id}/")}
        print(report(pages, args.gates))
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.page_weight import main as bench_main

    sys.exit(bench_main())

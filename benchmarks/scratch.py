"""Throwaway things a benchmark makes and removes: files under var/, PostgreSQL databases, keys."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

VAR = Path(__file__).resolve().parent.parent / "var"


@contextmanager
def scratch_files(prefix: str, keep: bool) -> Iterator[Path]:
    """Yield a stem under var/ (`<prefix>-<pid>`) for scratch files and folders; everything whose
    name starts with it is removed at the end unless `keep`."""
    VAR.mkdir(exist_ok=True)
    stem = VAR / f"{prefix}-{os.getpid()}"
    try:
        yield stem
    finally:
        if not keep:
            for path in VAR.glob(f"{stem.name}*"):
                _remove(path)


def _remove(path: Path) -> None:
    """A file, or a directory with everything in it (the claim-check files)."""
    if not path.is_dir():
        path.unlink(missing_ok=True)
        return
    for child in path.iterdir():
        _remove(child)
    path.rmdir()


@contextmanager
def scratch_postgresql(server_url: str, name: str, keep: bool = False) -> Iterator[str]:
    """A new database `name` on the server at `server_url` (the role needs CREATEDB); yields its
    URL; dropped at the end unless `keep`."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        if not keep:
            _close_django_connections()
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def scratch_database(prefix: str, keep: bool, postgresql_server: str = "") -> Iterator[str]:
    """A throwaway database's URL: SQLite under var/ (`<prefix>-<pid>.sqlite3`), or, given a
    PostgreSQL server's URL, a new database `<prefix>_<pid>` beside it; removed unless `keep`."""
    if postgresql_server:
        name = f"{prefix.replace('-', '_')}_{os.getpid()}"
        with scratch_postgresql(postgresql_server, name, keep) as url:
            yield url
    else:
        with scratch_files(prefix, keep) as stem:
            yield f"sqlite:///{stem}.sqlite3"


def _close_django_connections() -> None:
    if "django.db" not in sys.modules:
        return
    from django.conf import settings
    from django.db import connections

    if settings.configured:
        connections.close_all()


def recreate_postgresql(url: str) -> None:
    """Drop the database `url` names (if there is one) and create it empty."""
    import psycopg
    from psycopg import sql

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def throwaway_keys(
    key_id: str, *, dev: bool = True, namespaces: tuple[str, ...] = ("default",)
) -> dict[str, str]:
    """Environment for a portal signing key and payload keys made for this run only."""
    from agents.framework.codec import generate as generate_payload_keys
    from reviewer_portal.trust.keys import generate as generate_signing_key

    return {
        "PORTAL_SIGNING_KEY": generate_signing_key(key_id=key_id, dev=dev).to_json(),
        "PAYLOAD_KEYS": generate_payload_keys(list(namespaces), dev=dev).to_json(),
    }


def throwaway_officer(prefix: str) -> Any:
    """Set Django up on the environment's database, migrate it and make a credit officer of its
    own (named `<prefix>-<random>`): the submitter a start benchmark acts as."""
    import uuid

    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    officer = User.objects.create_user(f"{prefix}-{uuid.uuid4().hex[:6]}", password="x")
    officer.groups.add(Group.objects.get_or_create(name="credit_officer")[0])
    return officer

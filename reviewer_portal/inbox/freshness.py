"""How fresh a reviewer's inbox is, so that an unchanged poll costs a few reads of a cache.

Each reviewer role has a version: a token replaced after every committed change to the projection
of a gate of that role (reviewer_portal.inbox.projection bumps it, after the commit and before
the live push). It lives in the "projection" cache (settings.CACHES), which every process shares:
Redis in production, a directory under var/ on one machine; the worker sidecar writes the
projection in another process than the portal's.

The inbox table carries a tag made of the versions of the user's roles, the time of the
projection's newest write, the user, the query string and the current minute; a poll that sends
it back (If-None-Match) while none of that changed gets "204 No Content" without a read of the
gate table's rows. Why this is safe:

- the version is read before the rows, and bumped only after the write commits, so a tag is
  never newer than the rows it was rendered with: a change that races a poll costs one more
  re-read, never a missed one;
- a version missing from the cache (evicted, flushed, a fresh Redis) is replaced by a new token,
  which no tag carries, and a cache that fails yields a token that matches nothing: the poll then
  re-reads, as it did before;
- the minute in the tag re-reads once a minute whatever happens, so what depends on the clock
  (at risk and overdue badges, the SLA filter) is never staler than that.

The queue counts, the table's count and the user's own pending gates (`Freshness.cached`) are
kept in the process's own cache under a key made of the same versions, the newest write's time
and the minute: a change of the projection changes the key, so a count is never read after a
change, and a lost bump shows in the counts when the minute turns, as in the table. The table itself is kept under its tag (reviewer_portal.inbox.views):
a page or poll of an unchanged tag gets the table the tag stands for without reading a row. So a
page load, like a poll, may show a badge that turned "at risk" within the minute up to 60 s late;
and if a version's bump is lost (the cache failed after a commit) while the write left the newest
write's time where it was (a writer's clock behind), a page shows the older table until the
minute turns. Neither can decide anything: every decision is checked again by the service and by
the run.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import caches
from django.db import connection

from reviewer_portal.inbox.models import Gate

logger = logging.getLogger(__name__)

VERSIONS_CACHE = "projection"
COUNTS_CACHE = "default"
QUERY_CACHE = "inbox-tables"  # what each query string has: its table, its count, its filter fields
# What depends on the clock is re-read at least this often (see the module's docstring).
CLOCK_SECONDS = 60
COUNT_SECONDS = 300  # only bounds memory: a count's key changes with its roles' versions and the minute
T = TypeVar("T")


def _key(role: str) -> str:
    # Per database: test runs and benchmarks beside each other share the cache directory.
    return f"inbox-version:{connection.settings_dict['NAME']}:{role}"


def bump_roles(roles: Iterable[str]) -> None:
    """The projection changed for gates of these roles (call after the commit). Never raises."""
    token = uuid.uuid4().hex
    try:
        caches[VERSIONS_CACHE].set_many({_key(role): token for role in set(roles)}, timeout=None)
    except Exception:
        logger.warning("Inbox versions of %s not bumped; polls re-read within a minute", roles, exc_info=True)


def role_versions(roles: Iterable[str]) -> dict[str, str]:
    """The current version of each role (a fresh one for a role the cache does not hold)."""
    wanted = sorted(set(roles))
    cache = caches[VERSIONS_CACHE]
    try:
        held = cache.get_many([_key(role) for role in wanted])
        versions = {}
        for role in wanted:
            if (version := held.get(_key(role))) is None:
                cache.add(_key(role), uuid.uuid4().hex, timeout=None)
                version = cache.get(_key(role)) or uuid.uuid4().hex
            versions[role] = version
        return versions
    except Exception:
        logger.warning("Inbox versions unreadable; polls re-read", exc_info=True)
        return {role: uuid.uuid4().hex for role in wanted}  # matches no tag


@dataclass(frozen=True)
class Freshness:
    """What one user's inbox depends on, read once per request (before any row)."""

    user_pk: str
    stamp: str  # the versions of the user's roles, and the projection's last write

    def tag(self, query: str) -> str:
        """The tag of the inbox table for this query string, this minute."""
        minute = int(time.time() // CLOCK_SECONDS)
        return '"' + _digest(self.user_pk, self.stamp, query, str(minute))[:24] + '"'

    def cached(self, what: str, compute: Callable[[], T], *, per_query: bool = False) -> T:
        """`compute()`, kept while nothing it depends on changed (`what` names the value), and
        for the minute at most, as the table is (a lost bump shows when the minute turns). A
        value of one query string (`per_query`) is kept apart: query strings a reviewer makes up
        never evict the counts everyone reads."""
        minute = str(int(time.time() // CLOCK_SECONDS))
        key = "inbox-count:" + _digest(
            connection.settings_dict["NAME"], self.user_pk, self.stamp, what, minute
        )
        cache = caches[QUERY_CACHE if per_query else COUNTS_CACHE]
        if (value := cache.get(key)) is None:
            value = compute()
            cache.set(key, value, timeout=COUNT_SECONDS)
        return value


def freshness_for(*, user: AbstractBaseUser, roles: Iterable[str]) -> Freshness:
    versions = role_versions(roles)
    # Also the newest write: a row written without a bump (a test's, an administrator's) changes
    # it too. Never alone: writers' clocks and commits need not agree.
    stamp = "|".join([*(f"{role}={version}" for role, version in versions.items()), _newest_write()])
    return Freshness(str(user.pk), stamp)


def _newest_write() -> str:
    """The projection's newest `updated_at`, one step down its index, as the database writes it.
    Plain SQL: on the poll that reads nothing else, the ORM's aggregate cost 166 us against the
    query's own 15 us (issue 12)."""
    table = connection.ops.quote_name(Gate._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX(updated_at) FROM {table}")  # the model's own table, quoted
        return str(cursor.fetchone()[0])


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

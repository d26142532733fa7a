"""The search index's SQL objects, created by migration search 0001 and kept in place after each
migrate.

What is indexed: each pending gate's subject and every top-level value of its case, one per line,
as Django's `icontains` reads them (a JSON true, false or null as that word). That is more than
the fields agents declare searchable, so the index never needs rebuilding when an agent declares
another one; the selector's own conditions then pick the exact matches. Decided gates leave the
index at once: search only narrows the pending list.

SQLite: a trigram FTS5 table (substring matching, as LIKE) over `search_entry`, which triggers on
inbox_gate keep in step in the same transaction, for every write path: the projection's updates,
bulk_create, queryset updates and raw SQL alike. FTS5's rowid must be a stable integer, which
inbox_gate (a text primary key) lacks, hence `search_entry`.
PostgreSQL: a pg_trgm GIN expression index, partial on pending gates, over the same text: the
database keeps it current itself, so there is nothing to keep in step.
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

PENDING = "'pending'"


def _sqlite_document(row: str) -> str:
    """The indexed text of `row` (new, old or inbox_gate), in SQLite."""
    values = (
        f"SELECT group_concat(CASE WHEN type IN ('null', 'true', 'false') THEN type ELSE value END,"
        f' char(10)) FROM json_each(CASE WHEN json_valid({row}."case") THEN {row}."case" ELSE \'{{}}\' END)'
    )
    return f"{row}.subject || char(10) || COALESCE(({values}), '')"


SQLITE_CREATE = [
    "CREATE TABLE IF NOT EXISTS search_entry"
    " (id INTEGER PRIMARY KEY, gate_id TEXT NOT NULL UNIQUE, body TEXT NOT NULL)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_entry_fts"
    " USING fts5(body, content='search_entry', content_rowid='id', tokenize='trigram')",
    # The external-content pattern of the FTS5 documentation: the FTS table follows search_entry.
    """CREATE TRIGGER IF NOT EXISTS search_entry_inserted AFTER INSERT ON search_entry BEGIN
        INSERT INTO search_entry_fts(rowid, body) VALUES (new.id, new.body);
    END""",
    """CREATE TRIGGER IF NOT EXISTS search_entry_deleted AFTER DELETE ON search_entry BEGIN
        INSERT INTO search_entry_fts(search_entry_fts, rowid, body) VALUES ('delete', old.id, old.body);
    END""",
    """CREATE TRIGGER IF NOT EXISTS search_entry_updated AFTER UPDATE ON search_entry BEGIN
        INSERT INTO search_entry_fts(search_entry_fts, rowid, body) VALUES ('delete', old.id, old.body);
        INSERT INTO search_entry_fts(rowid, body) VALUES (new.id, new.body);
    END""",
    # Delete, then insert: never INSERT OR REPLACE, whose implicit delete fires no trigger.
    f"""CREATE TRIGGER IF NOT EXISTS search_gate_inserted AFTER INSERT ON inbox_gate
    WHEN new.status = {PENDING} BEGIN
        DELETE FROM search_entry WHERE gate_id = new.gate_id;
        INSERT INTO search_entry(gate_id, body) VALUES (new.gate_id, {_sqlite_document("new")});
    END""",
    # Only when what is indexed changes: the projection rewrites every column on each version.
    f"""CREATE TRIGGER IF NOT EXISTS search_gate_updated AFTER UPDATE OF gate_id, status, subject, "case"
    ON inbox_gate WHEN old.gate_id IS NOT new.gate_id OR old.status IS NOT new.status
        OR old.subject IS NOT new.subject OR old."case" IS NOT new."case" BEGIN
        DELETE FROM search_entry WHERE gate_id = old.gate_id;
        INSERT INTO search_entry(gate_id, body)
            SELECT new.gate_id, {_sqlite_document("new")} WHERE new.status = {PENDING};
    END""",
    """CREATE TRIGGER IF NOT EXISTS search_gate_deleted AFTER DELETE ON inbox_gate BEGIN
        DELETE FROM search_entry WHERE gate_id = old.gate_id;
    END""",
]
SQLITE_TRIGGERS = {
    "search_entry_inserted",
    "search_entry_deleted",
    "search_entry_updated",
    "search_gate_inserted",
    "search_gate_updated",
    "search_gate_deleted",
}
SQLITE_FILL = [
    "DELETE FROM search_entry",
    "INSERT INTO search_entry_fts(search_entry_fts) VALUES ('delete-all')",
    f"INSERT INTO search_entry(gate_id, body) SELECT gate_id, {_sqlite_document('inbox_gate')}"
    f" FROM inbox_gate WHERE status = {PENDING}",
]
SQLITE_DROP = [
    *(f"DROP TRIGGER IF EXISTS {name}" for name in sorted(SQLITE_TRIGGERS)),
    "DROP TABLE IF EXISTS search_entry_fts",
    "DROP TABLE IF EXISTS search_entry",
]

# IMMUTABLE, so it may define an index: it reads only its arguments. A case that is not a JSON
# object has no top-level values (jsonb_each_text would fail on it).
POSTGRESQL_CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """CREATE OR REPLACE FUNCTION search_gate_document(subject text, gate_case jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT subject || E'\\n' || COALESCE((
            SELECT string_agg(value, E'\\n')
            FROM jsonb_each_text(CASE WHEN jsonb_typeof(gate_case) = 'object' THEN gate_case END)
        ), '')
    $$""",
    # The expression Django's icontains compiles to, so `UPPER(...) LIKE UPPER('%q%')` uses it.
    f"""CREATE INDEX IF NOT EXISTS search_gate_pending_trgm ON inbox_gate
    USING gin ((UPPER(search_gate_document(subject, "case")::text)) gin_trgm_ops)
    WHERE status = {PENDING}""",
]
POSTGRESQL_DROP = [
    "DROP INDEX IF EXISTS search_gate_pending_trgm",
    "DROP FUNCTION IF EXISTS search_gate_document(text, jsonb)",
]


@functools.cache
def sqlite_has_trigram() -> bool:
    """Whether this SQLite (the library Django's backend uses) has FTS5's trigram tokenizer (3.34+).
    Without it there is no index, and search scans as it did before."""
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("CREATE VIRTUAL TABLE probe USING fts5(text, tokenize='trigram')")
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()
    return True


def search_index_create(connection: BaseDatabaseWrapper) -> None:
    """Create the index's objects and fill the index from the gates there are."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite" and sqlite_has_trigram():
            for statement in [*SQLITE_CREATE, *SQLITE_FILL]:
                cursor.execute(statement)
        elif connection.vendor == "postgresql":
            for statement in POSTGRESQL_CREATE:
                cursor.execute(statement)


def search_index_drop(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in {"sqlite": SQLITE_DROP, "postgresql": POSTGRESQL_DROP}.get(connection.vendor, []):
            cursor.execute(statement)


def search_index_ensure(*, using: str = DEFAULT_DB_ALIAS, plan: Any = None, **kwargs: Any) -> None:
    """post_migrate: put back whatever of the index a later migration removed, and refill it."""
    connection = connections[using]
    if connection.vendor != "sqlite" or not sqlite_has_trigram() or not _migrated(connection):
        return  # PostgreSQL keeps an expression index through ALTER TABLE
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'search\\_%' ESCAPE '\\'"
        )
        present = {name for (name,) in cursor.fetchall()}
    if present != SQLITE_TRIGGERS:
        search_index_create(connection)


def _migrated(connection: BaseDatabaseWrapper) -> bool:
    """Whether search 0001 is applied (a migrate to an earlier state unapplies it)."""
    tables = connection.introspection.table_names()
    if "django_migrations" not in tables or "inbox_gate" not in tables:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM django_migrations WHERE app = 'search' AND name = %s", [MIGRATION])
        return cursor.fetchone() is not None


MIGRATION = "0001_gate_search_index"

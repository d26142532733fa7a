"""The search index as a query condition: the pending gates whose indexed text may contain a
query. A superset of the matches, never fewer, so the caller's own conditions decide."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, F, Func, Q, TextField
from django.db.models.lookups import IContains
from django.db.models.sql.compiler import SQLCompiler

from reviewer_portal.search.schema import sqlite_has_trigram

# Both indexes read text three characters at a time; a shorter query cannot narrow anything.
SHORTEST_INDEXED = 3
FTS_CANDIDATES = (
    "SELECT gate_id FROM search_entry WHERE id IN"
    " (SELECT rowid FROM search_entry_fts WHERE search_entry_fts MATCH %s)"
)


class InIndex(Func):
    """SQLite: the gate is among the FTS5 matches of `phrase`.

    A count reads the matches and looks each gate up. A page (ordered and sliced) does better to
    walk its sort's index and test each gate against the matches, stopping at the page's end,
    than to fetch and sort every match; `+` keeps SQLite from driving the query by gate_id.
    """

    output_field = BooleanField()
    conditional = True

    def __init__(self, phrase: str) -> None:
        super().__init__(F("gate_id"))
        self.phrase = phrase

    def as_sql(  # type: ignore[override]  # Django 5.2 returns params as a list
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, list[Any]]:
        column, params = compiler.compile(self.get_source_expressions()[0])
        page = compiler.query.is_sliced and bool(compiler.query.order_by)
        return f"{'+' if page else ''}{column} IN ({FTS_CANDIDATES})", [*params, self.phrase]


class GateDocument(Func):
    """A gate's indexed text on PostgreSQL (function search_gate_document, migration search 0001)."""

    function = "search_gate_document"
    output_field = TextField()

    def __init__(self) -> None:
        super().__init__(F("subject"), F("case"))


def search_candidates(text: str) -> Q:
    """Gates that may contain `text` (pending ones, from the index), or every gate (Q()) when the
    index cannot tell: a query under three characters, or a database without an index."""
    if len(text) < SHORTEST_INDEXED or "\x00" in text:
        return Q()
    if connection.vendor == "sqlite" and sqlite_has_trigram():
        # One FTS5 phrase: a quoted string is text only (AND, NEAR, * and ^ inside it are words),
        # and a double quote inside it is written twice. The trigram tokenizer matches substrings.
        phrase = '"' + text.replace('"', '""') + '"'
        return Q(InIndex(phrase))
    if connection.vendor == "postgresql":
        # Compiles to UPPER(search_gate_document(...)::text) LIKE UPPER('%text%'): the index's
        # expression, so pg_trgm serves it. The index is partial, on pending gates.
        return Q(IContains(GateDocument(), text), status="pending")
    return Q()

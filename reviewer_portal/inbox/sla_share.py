"""The share of a gate's SLA still left, computed in the database (the inbox filters and sorts on it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from django.db import NotSupportedError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import DateTimeField, F, FloatField, Func, Value
from django.db.models.sql.compiler import SQLCompiler


class SlaShareLeft(Func):
    """The share of a gate's SLA still left at `now`: 1 when it opens, 0 at its deadline.

    Native date arithmetic in the database (SQLite's julianday, PostgreSQL's epoch), so filtering
    thousands of gates on it costs no per-row Python, unlike Django's generic duration maths.
    """

    output_field = FloatField()

    def __init__(self, now: datetime) -> None:
        super().__init__(F("deadline"), Value(now, output_field=DateTimeField()), F("sla_seconds"))

    # Django 5.2 passes compiled params on as a list; django-stubs types them as Django 6's tuple.
    def as_sqlite(  # type: ignore[override]
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, list[Any]]:
        return self._as_share(compiler, "(julianday({0}) - julianday({1})) * 86400.0 / NULLIF({2}, 0)")

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, list[Any]]:
        return self._as_share(compiler, "EXTRACT(EPOCH FROM ({0} - {1}))::float / NULLIF({2}, 0)")

    def as_sql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, *args: Any, **extra: Any
    ) -> NoReturn:
        raise NotSupportedError("SlaShareLeft is written for SQLite and PostgreSQL.")

    def _as_share(self, compiler: SQLCompiler, template: str) -> tuple[str, list[Any]]:
        compiled = [compiler.compile(expression) for expression in self.get_source_expressions()]
        params = [param for _, part_params in compiled for param in part_params]
        return f"({template.format(*(sql for sql, _ in compiled))})", params

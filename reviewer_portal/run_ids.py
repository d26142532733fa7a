"""URL converters for the ids of agent runs and gates: letters, digits and `-_.:` only.

Anything else (a NUL, which PostgreSQL refuses in a query, or an id of a thousand characters) is
a 404 before any view runs, the same answer as an id that does not exist.
"""

from __future__ import annotations

import re

from django.urls import register_converter

RUN_ID = r"[A-Za-z0-9_.:-]{1,200}"
RUN_ID_PATTERN = re.compile(RUN_ID)


class RunIdConverter:
    regex = RUN_ID

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(RunIdConverter, "run_id")

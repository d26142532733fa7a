"""The inbox table's rows, rendered once and kept: most of an inbox page's rendering is its 25
rows, and the same row is shown to every reviewer of its queue, poll after poll.

A row's HTML depends on the gate as projected (its version and last write), on what the query
adds for this user (bulk_eligible: whether a colleague holds it; sla_state), on whether the user
had it selected (a bulk decision that failed without JavaScript), and on the clock ("42 minutes",
to the minute): each is part of the key, so a change to any of them renders the row again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable

from django.core.cache import cache
from django.db import connection
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from reviewer_portal.inbox.models import Gate

ROW_TEMPLATE = "inbox/inbox.html#gate-row"
ROW_SECONDS = 120  # a row's key changes every minute anyway: this only bounds memory


def rendered_rows(gates: Iterable[Gate], selected: set[str]) -> list[SafeString]:
    """The rows' HTML, in order, from the process's cache where it holds them."""
    minute = str(int(time.time() // 60))
    database = str(connection.settings_dict["NAME"])
    keyed = [(_key(gate, selected, minute, database), gate) for gate in gates]
    held = cache.get_many([key for key, _ in keyed])
    fresh = {}
    for key, gate in keyed:
        if key not in held:
            context = {"gate": gate, "selected": selected}
            held[key] = fresh[key] = render_to_string(ROW_TEMPLATE, context)
    if fresh:
        cache.set_many(fresh, timeout=ROW_SECONDS)
    return [mark_safe(held[key]) for key, _ in keyed]


def _key(gate: Gate, selected: set[str], minute: str, database: str) -> str:
    parts = [
        database,
        gate.gate_id,
        str(gate.version),
        gate.updated_at.isoformat(),
        str(getattr(gate, "bulk_eligible", "")),
        str(getattr(gate, "sla_state", "")),
        str(gate.gate_id in selected),
        minute,
    ]
    return "inbox-row:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

"""What a page missed between being rendered and its socket opening.

A page reads its gates, then its script opens /ws/gates/ a moment later: a gate that changed in
between was pushed to a socket not there yet. The page says when it was rendered (`since`, the
server's clock in milliseconds, in the socket's query string), and the socket's first messages
are the hints of the gates changed since then that its groups would have heard, as if pushed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from reviewer_portal.inbox.models import Gate
from reviewer_portal.live.groups import groups_concerned

# Looked back before `since`: a change committed while the page was being read (its row written
# before the stamp, but after the page's query) is hinted too; a hint of what the page already
# shows costs a 204 or a version compared, nothing more.
MARGIN = timedelta(seconds=10)
# A page older than this (restored from the back/forward cache, left asleep) re-reads everything.
MAX_AGE = timedelta(minutes=10)
# More changes than this since the page was rendered: it re-reads everything instead.
LIMIT = 100
EVERYTHING = {"catch_up": "all"}  # no gate_id: every part of the page re-reads


def page_stamp(now: datetime) -> int:
    """The `since` a page rendered at `now` gives its socket."""
    return int(now.timestamp() * 1000)


def missed_since(since: str, groups: list[str], now: datetime) -> list[dict[str, Any]]:
    """The hints a socket of `groups` opened at `now` owes a page rendered at `since`: one per gate
    changed since then that concerns those groups, or EVERYTHING; none if `since` is not a stamp
    (a page of the release before, or made up)."""
    if not (since.isascii() and since.isdigit()) or len(since) > 15:
        return []
    rendered = datetime.fromtimestamp(int(since) / 1000, tz=UTC)
    if rendered > now + timedelta(minutes=1):
        return []  # not a stamp this server made
    if now - rendered > MAX_AGE:
        return [EVERYTHING]
    changed = list(
        Gate.objects.filter(updated_at__gte=rendered - MARGIN)
        .only("gate_id", "status", "role", "version", "supervisors", "escalation_level", "agent", "kind")
        .order_by("updated_at")[: LIMIT + 1]
    )
    if len(changed) > LIMIT:
        return [EVERYTHING]
    heard = set(groups)
    return [
        {"gate_id": gate.gate_id, "status": gate.status, "role": gate.role, "version": gate.version}
        for gate in changed
        if heard.intersection(groups_concerned(gate))
    ]

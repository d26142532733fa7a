"""A gate's opening as the local publish writes it, and the time reviewers first saw it.

A workflow task that opened a gate and failed after its local publish committed (its worker died,
or a bug later in the same task) is retried: the run opens the same gate again, at the retry's
later time. The row keeps the first write of a version, so reviewers have seen the gate since the
first try. The local publish answers that time (`LocalPublication.first_seen`), and the run takes
it for its gate and its SLA timer (agents/framework/gate_flow.py, patch first-seen-opening).

Only for the same opening: the row at version 1, every field of its snapshot as this try's but the
two times (a retried task is deterministic, so nothing else can differ), written earlier. A row a
run of another namespace planted under the same gate id, one changed since, or one whose content
differs is not this opening, and its time is not answered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import close_old_connections

from agents.framework.gate_changes import GatePublication
from agents.framework.sla import at_opening
from agents.framework.types import GateSnapshot
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.projection import storable_snapshot
from reviewer_portal.inbox.publishing import apply_publication, apply_snapshot

TIMES = ("opened_at", "deadline")  # what a retried task takes afresh


def publish_opening(publication: GatePublication) -> tuple[bool, datetime | None]:
    """`publish_gate_change`, and for a gate's opening the time its row was first written by an
    earlier try of the same workflow task, if it was; on one database connection."""
    close_old_connections()
    try:
        opening = publication.snapshot
        if opening is None:
            return apply_publication(publication), None
        # Written just now: no earlier try wrote it, so there is no earlier time to look for.
        wrote = apply_snapshot(opening, publication.chain, publication.content)
        return True, (None if wrote else first_seen_of(opening))
    finally:
        close_old_connections()


def first_seen_of(opening: GateSnapshot) -> datetime | None:
    """When the projection first showed this same opening, if before `opening.opened_at`."""
    if not at_opening(opening):
        return None
    row = Gate.objects.filter(gate_id=opening.gate_id, version=1).values_list("opened_at", "snapshot").first()
    if row is None:
        return None
    first_seen, stored = row
    if first_seen >= opening.opened_at or not isinstance(stored, dict):
        return None
    _, data = storable_snapshot(opening)
    return first_seen if _untimed(stored) == _untimed(data) else None


def _untimed(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in snapshot.items() if name not in TIMES}

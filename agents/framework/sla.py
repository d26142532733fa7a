"""SLA clock rules for a gate that comes back from the agent: pure, with `now` passed in."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from agents.framework.types import GateSnapshot

# A revised recommendation always gets time to be read: a change requested in the SLA's last
# seconds would otherwise come back already overdue and escalate unread. Ten minutes is enough to
# read a revision and decide, and short against any real SLA (a fifth of it when it is shorter).
REVISION_FLOOR = timedelta(minutes=10)


def revision_floor(sla_seconds: int) -> timedelta:
    """The least SLA time a revised gate reopens with."""
    return min(REVISION_FLOOR, timedelta(seconds=sla_seconds) / 5)


def reopened_deadline(gate: GateSnapshot, now: datetime, *, keep_clock: bool) -> datetime:
    """With `keep_clock`, now plus the SLA time that was left when changes were requested (the
    clock paused while the agent revised), at least the floor; else a full SLA from now. Never
    more than a full SLA."""
    full = now + timedelta(seconds=gate.sla_seconds)
    if not keep_clock or gate.decided_at is None:
        return full
    return min(now + max(gate.deadline - gate.decided_at, revision_floor(gate.sla_seconds)), full)


def first_seen_shift(opened_at: datetime, first_seen: datetime, sla_seconds: int) -> timedelta | None:
    """How much earlier than `opened_at` reviewers first saw a gate, when an earlier try of the
    workflow task that opened it wrote it to the projection at `first_seen` (that try's clock) and
    the try failed before its task completed. None unless within one SLA before: no earlier try
    of the run can have written another time (a tampered row, or a gate id reused)."""
    shift = opened_at - first_seen
    return shift if timedelta(0) < shift <= timedelta(seconds=sla_seconds) else None


def first_seen_opening(gate: GateSnapshot, first_seen: datetime) -> GateSnapshot | None:
    """The gate as reviewers first saw it (`first_seen_shift`): opened then, its deadline as much
    earlier; None when that time is not taken."""
    shift = first_seen_shift(gate.opened_at, first_seen, gate.sla_seconds)
    if shift is None:
        return None
    return replace(gate, opened_at=first_seen, deadline=gate.deadline - shift)

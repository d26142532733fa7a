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


def first_seen_shift(opened_at: datetime, first_seen: datetime) -> timedelta | None:
    """How much earlier than `opened_at` reviewers first saw a gate, when an earlier try of the
    workflow task that opened it wrote the same opening to the projection at `first_seen` (that
    try's clock) and failed before its task completed; None unless earlier. However much earlier:
    a task that kept failing past the SLA leaves a gate that is due at once, as it would be had
    the first try completed. Runs recorded with this rule keep it: change it under a new patch."""
    shift = opened_at - first_seen
    return shift if shift > timedelta(0) else None


def at_opening(gate: GateSnapshot) -> bool:
    """Whether `gate` is as it was opened: its first version, never escalated or revised. A gate
    carried across a continue-as-new and published whole is not opened again."""
    return gate.version == 1 and not gate.escalation_level and not gate.revisions


def first_seen_opening(gate: GateSnapshot, first_seen: datetime) -> GateSnapshot | None:
    """The gate as reviewers first saw it (`first_seen_shift`): opened then, its deadline as much
    earlier; None when that time is not taken, or the gate is not `at_opening`."""
    shift = first_seen_shift(gate.opened_at, first_seen)
    if shift is None or not at_opening(gate):
        return None
    return replace(gate, opened_at=first_seen, deadline=gate.deadline - shift)

"""SLA clock rules for a gate that comes back from the agent: pure, with `now` passed in."""

from __future__ import annotations

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

"""Where a gate has been: the roles it has left and when it last moved, which its projection row
keeps (reviewer_portal.inbox.projection writes them)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from agents.framework.gates import HOLD_DAYS
from agents.framework.registry import AGENTS
from agents.framework.types import GateSnapshot


def gate_moves(older: Any, s: GateSnapshot) -> dict[str, object]:
    """The roles the gate has left and when it last moved, if this version moves it (an
    escalation, or a hold for an admin). It moved when its SLA ran out: at the older deadline."""
    row = older.values("role", "past_roles", "deadline").first()
    if row is None:
        # First seen here already escalated (the portal was down, or the row predates past_roles).
        return moves_from_policy(s)
    if row["role"] == s.role:
        return {}
    past = list(row["past_roles"])
    return {"past_roles": past if row["role"] in past else [*past, row["role"]], "moved_at": row["deadline"]}


def moves_from_policy(s: GateSnapshot) -> dict[str, object]:
    """The roles an escalated gate has left and when it moved, read off its agent's policy (the
    framework escalates along it, and holds for an admin after it): for a row first seen escalated."""
    spec = AGENTS.get(s.agent)
    policy = None if spec is None else spec.approval_gate if s.tool_call is not None else spec.gate
    if not s.escalation_level or policy is None:
        return {}
    chain = [policy.role, *(step.role for step in policy.escalations)]
    left = [role for role in dict.fromkeys(chain[: s.escalation_level]) if role != s.role]
    held = s.escalation_level > len(policy.escalations)
    moved_at = s.deadline - (timedelta(days=HOLD_DAYS) if held else timedelta(seconds=s.sla_seconds))
    return {"past_roles": left, "moved_at": moved_at}

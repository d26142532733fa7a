"""Gate rules: the pure decisions the workflow makes about a human-in-the-loop gate.

No Temporal calls here: the workflow passes `now` in, so the rules are deterministic and testable.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from agents.framework.types import DecideInput, GatePolicy, GateSnapshot

DECISIONS = ("approve", "reject")
MAX_REASON_LENGTH = 2000


def decision_refusal(gate: GateSnapshot | None, update: DecideInput, now: datetime) -> str | None:
    """Why a decision must be refused, in words a reviewer understands; None if it may apply."""
    if gate is None or gate.gate_id != update.gate_id:
        return "This gate does not exist in this agent run."
    if gate.status != "pending":
        return f"This gate was already decided ({gate.status} by {gate.decided_by})."
    if now >= gate.deadline:
        return "This gate's SLA has expired; it is being escalated or closed."
    if gate.role not in update.reviewer_roles:
        return f"Only a reviewer with the role '{gate.role}' may decide this gate."
    if update.reviewer == gate.submitted_by:
        return "Four-eyes rule: you submitted this case, so someone else must decide it."
    if update.decision not in DECISIONS:
        return f"Unknown decision '{update.decision}'; expected approve or reject."
    if update.decision == "reject" and not update.reason.strip():
        return "A rejection needs a reason."
    if len(update.reason) > MAX_REASON_LENGTH:
        return f"The reason is longer than {MAX_REASON_LENGTH} characters."
    return None


def apply_decision(gate: GateSnapshot, update: DecideInput, now: datetime) -> GateSnapshot:
    return replace(
        gate,
        status="approved" if update.decision == "approve" else "rejected",
        decided_by=update.reviewer,
        decided_at=now,
        reason=update.reason.strip(),
        version=gate.version + 1,
    )


def expire(gate: GateSnapshot, policy: GatePolicy, now: datetime) -> GateSnapshot:
    """The SLA ran out: escalate to the next role, or reject with the policy's reason."""
    if gate.escalation_level < len(policy.escalations):
        step = policy.escalations[gate.escalation_level]
        return replace(
            gate,
            role=step.role,
            sla_seconds=step.sla_seconds,
            deadline=now + timedelta(seconds=step.sla_seconds),
            escalation_level=gate.escalation_level + 1,
            version=gate.version + 1,
        )
    return replace(
        gate,
        status="rejected",
        decided_by="system",
        decided_at=now,
        reason=policy.expiry_reason,
        version=gate.version + 1,
    )

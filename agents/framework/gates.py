"""Gate rules: the pure decisions the workflow makes about a human-in-the-loop gate.

No Temporal calls here: the workflow passes `now` in, so the rules are deterministic and testable.
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from agents.framework.types import (
    ADMIN_ROLE,
    AnnotateInput,
    Annotation,
    AssignInput,
    DecideInput,
    GatePolicy,
    GateSnapshot,
    Recommendation,
    Revision,
)

DECISIONS = ("approve", "reject", "request_changes")
HOLD_DAYS = 365
MAX_REASON_LENGTH = 2000
MAX_EDIT_LENGTH = 10_000


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
    if gate.assignee and gate.assignee != update.reviewer:
        return f"This gate is claimed by {gate.assignee}."
    if update.decision not in DECISIONS:
        return f"Unknown decision '{update.decision}'; expected approve, reject or request changes."
    if update.decision == "reject" and not update.reason.strip():
        return "A rejection needs a reason."
    if update.decision == "request_changes" and not update.reason.strip():
        return "Say what the agent should change."
    if len(update.reason) > MAX_REASON_LENGTH:
        return f"The reason is longer than {MAX_REASON_LENGTH} characters."
    return edit_refusal(gate, update)


def edit_refusal(gate: GateSnapshot, update: DecideInput) -> str | None:
    if not update.edits:
        return None
    if update.decision != "approve":
        return "Edits go with an approval; a rejection leaves the proposal as it was."
    unknown = sorted(set(update.edits) - set(gate.editable))
    if unknown:
        return f"These fields may not be edited: {', '.join(unknown)}."
    for name, value in update.edits.items():
        if not isinstance(value, str) or not value.strip():
            return f"The edited '{name}' must be non-empty text."
        if len(value) > MAX_EDIT_LENGTH:
            return f"The edited '{name}' is longer than {MAX_EDIT_LENGTH} characters."
    return None


def apply_decision(gate: GateSnapshot, update: DecideInput, now: datetime) -> GateSnapshot:
    original = gate.recommendation.proposal
    edits = {k: v for k, v in update.edits.items() if v != original.get(k)}
    status = {"approve": "approved", "reject": "rejected", "request_changes": "changes_requested"}
    return replace(
        gate,
        status=status[update.decision],
        decided_by=update.reviewer,
        decided_at=now,
        reason=update.reason.strip(),
        edits=edits,
        edit_diff=edit_diff(original, edits),
        version=gate.version + 1,
    )


def edit_diff(original: dict[str, Any], edits: dict[str, Any]) -> str:
    """A unified diff of each edited field, as recorded in history and shown to reviewers."""
    chunks = []
    for name in sorted(edits):
        before = str(original.get(name, "")).splitlines(keepends=True)
        after = str(edits[name]).splitlines(keepends=True)
        chunks.extend(difflib.unified_diff(before, after, f"{name} (proposed)", f"{name} (approved)"))
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)


def proposal_after_review(gate: GateSnapshot) -> dict[str, Any]:
    """What was approved: the proposal with the reviewer's edits applied."""
    return {**gate.recommendation.proposal, **gate.edits}


def annotation_refusal(gate: GateSnapshot | None, note: AnnotateInput) -> str | None:
    if gate is None or gate.gate_id != note.gate_id:
        return "This gate does not exist in this agent run."
    if gate.role not in note.reviewer_roles:
        return f"Only a reviewer with the role '{gate.role}' may annotate this gate."
    if not note.text.strip():
        return "An annotation needs some text."
    if len(note.text) > MAX_REASON_LENGTH:
        return f"An annotation is at most {MAX_REASON_LENGTH} characters."
    return None


def annotate(gate: GateSnapshot, note: AnnotateInput, now: datetime) -> GateSnapshot:
    annotation = Annotation(author=note.reviewer, text=note.text.strip(), at=now)
    return replace(gate, annotations=[*gate.annotations, annotation], version=gate.version + 1)


def reopen(gate: GateSnapshot, recommendation: Recommendation, now: datetime) -> GateSnapshot:
    """The agent answered a change request: the same gate, a new recommendation, a fresh SLA."""
    revision = Revision(gate.recommendation, gate.decided_by, gate.reason, gate.decided_at or now)
    return replace(
        gate,
        recommendation=recommendation,
        revisions=[*gate.revisions, revision],
        status="pending",
        decided_by="",
        decided_at=None,
        reason="",
        edits={},
        edit_diff="",
        opened_at=now,
        deadline=now + timedelta(seconds=gate.sla_seconds),
        warned=False,
        version=gate.version + 1,
    )


def assignment_refusal(gate: GateSnapshot | None, change: AssignInput) -> str | None:
    """Why a claim, unclaim or (re)assignment must be refused; None if it may apply."""
    if gate is None or gate.gate_id != change.gate_id:
        return "This gate does not exist in this agent run."
    if gate.status != "pending":
        return f"This gate was already decided ({gate.status} by {gate.decided_by})."
    supervisor = bool(set(gate.supervisors) & set(change.reviewer_roles))
    if gate.role not in change.reviewer_roles and not supervisor:
        return f"Only a reviewer with the role '{gate.role}' may claim or assign this gate."
    if change.assignee and gate.role not in change.assignee_roles:
        return f"{change.assignee} does not have the role '{gate.role}'."
    if change.assignee and change.assignee == gate.submitted_by:
        return f"Four-eyes rule: {change.assignee} submitted this case."
    if gate.assignee and gate.assignee != change.reviewer and not supervisor:
        return f"This gate is claimed by {gate.assignee}."
    if gate.assignee == change.assignee:
        return f"This gate is already {'claimed by ' + gate.assignee if gate.assignee else 'unclaimed'}."
    return None


def apply_assignment(gate: GateSnapshot, change: AssignInput) -> GateSnapshot:
    return replace(gate, assignee=change.assignee, version=gate.version + 1)


def expire(gate: GateSnapshot, policy: GatePolicy, now: datetime) -> GateSnapshot:
    """The SLA ran out: escalate to the next role, else reject with the policy's reason or hold
    the gate for an admin. Never approve."""
    if gate.escalation_level < len(policy.escalations):
        step = policy.escalations[gate.escalation_level]
        return replace(
            gate,
            role=step.role,
            sla_seconds=step.sla_seconds,
            deadline=now + timedelta(seconds=step.sla_seconds),
            escalation_level=gate.escalation_level + 1,
            assignee="",
            warned=False,
            version=gate.version + 1,
        )
    if policy.final_outcome == "hold":
        return replace(
            gate,
            role=ADMIN_ROLE,
            assignee="",
            deadline=now + timedelta(days=HOLD_DAYS),
            escalation_level=gate.escalation_level + 1,
            needs_attention=f"Held for an admin: {policy.expiry_reason}",
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


def warning_time(gate: GateSnapshot, policy: GatePolicy) -> datetime | None:
    """When the gate's reviewers are warned its SLA is running out; None if never."""
    if policy.warn_at <= 0 or gate.warned or gate.status != "pending":
        return None
    return gate.deadline - timedelta(seconds=gate.sla_seconds * policy.warn_at)

"""Gate rules: the pure decisions the workflow makes about a human-in-the-loop gate.

No Temporal calls here: the workflow passes `now` in, so the rules are deterministic and testable.
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from agents.framework.types import AnnotateInput, Annotation, DecideInput, GatePolicy, GateSnapshot

DECISIONS = ("approve", "reject")
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
    if update.decision not in DECISIONS:
        return f"Unknown decision '{update.decision}'; expected approve or reject."
    if update.decision == "reject" and not update.reason.strip():
        return "A rejection needs a reason."
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
    return replace(
        gate,
        status="approved" if update.decision == "approve" else "rejected",
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

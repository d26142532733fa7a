"""Gate rules: the pure decisions the workflow makes about a human-in-the-loop gate.

No Temporal calls here: the workflow passes `now` in, so the rules are deterministic and testable.
People are compared by their immutable user ids (a renamed reviewer is still the same person);
runs recorded before ids existed fall back to usernames.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from agents.framework import sla
from agents.framework.contract import (
    APPROVE,
    DECISION_STATUS,
    OPERATOR,
    PENDING,
    REJECT,
    REJECTED,
    REQUEST_CHANGES,
    SYSTEM_DECIDER,
)
from agents.framework.gate_content import content_digest
from agents.framework.input_rules import edit_value_refusal, edited_value
from agents.framework.reviewer_actions import AnnotateInput, AssignInput, DecideInput
from agents.framework.types import (
    ADMIN_ROLE,
    Annotation,
    GatePolicy,
    GateSnapshot,
    Recommendation,
    Revision,
    ToolResult,
)

DECISIONS = tuple(DECISION_STATUS)
HOLD_DAYS = 365
# Notes per gate: enough for a real discussion, bounded so a run's history stays small.
MAX_NOTES = 50
MAX_NOTES_CHARACTERS = 40_000
# The run holds another gate than the decision was made on, at the same revision: most often a run
# set back to before the model's step (reset), its projection still showing the first answer.
CONTENT_CHANGED = (
    "The agent run holds a recommendation or evidence other than the one this decision was made on "
    "(the portal's copy of the gate is behind the run's, or the run was set back), so the decision "
    "was not applied and the gate stays open: read the gate as it is now, and decide again."
)


def same_person(name: str, user_id: str, other_name: str, other_id: str) -> bool:
    """Whether two (username, user id) pairs are one person: by id where both have one."""
    if user_id and other_id:
        return user_id == other_id
    return bool(name) and name == other_name


def is_override(update: DecideInput | AnnotateInput | AssignInput) -> bool:
    """An admin acting through the operator command: any gate's role, past any claim."""
    return update.origin == OPERATOR and ADMIN_ROLE in update.reviewer_roles


def decision_refusal(gate: GateSnapshot | None, update: DecideInput, now: datetime) -> str | None:
    """Why a decision must be refused, in words a reviewer understands; None if it may apply."""
    if gate is None or gate.gate_id != update.gate_id:
        return "This gate does not exist in this agent run."
    if gate.status != PENDING:
        return f"This gate was already decided ({gate.status} by {gate.decided_by})."
    if now >= gate.deadline:
        return "This gate's SLA has expired; it is being escalated or closed."
    if update.revision != len(gate.revisions):
        return (
            "The agent revised its recommendation after this decision was made; "
            "read the new recommendation and decide again."
        )
    if update.content and update.content != content_digest(gate):
        return CONTENT_CHANGED
    override = is_override(update)
    if gate.role not in update.reviewer_roles and not override:
        return f"Only a reviewer with the role '{gate.role}' may decide this gate."
    if same_person(gate.submitted_by, gate.submitted_by_id, update.reviewer, update.reviewer_id):
        return "Four-eyes rule: you submitted this case, so someone else must decide it."
    holder = (gate.assignee, gate.assignee_id)
    if gate.assignee and not same_person(*holder, update.reviewer, update.reviewer_id) and not override:
        return f"This gate is claimed by {gate.assignee}."
    if override and not update.reason.strip():
        return "An operator override needs a reason."
    if update.decision not in DECISIONS:
        return f"Unknown decision '{update.decision}'; expected approve, reject or request changes."
    if update.decision == REJECT and not update.reason.strip():
        return "A rejection needs a reason."
    if update.decision == REQUEST_CHANGES and not update.reason.strip():
        return "Say what the agent should change."
    # After the decision's own checks, so a malformed one is told what is wrong with it first.
    if gate.claim_required and not gate.assignee and not override:
        return "Claim this gate to decide it: its policy lets only the reviewer who holds it decide."
    return edit_refusal(gate, update)


def edit_refusal(gate: GateSnapshot, update: DecideInput) -> str | None:
    if not update.edits:
        return None
    if update.decision != APPROVE:
        return "Edits go with an approval; a rejection leaves the proposal as it was."
    unknown = sorted(set(update.edits) - set(gate.editable))
    if unknown:
        return f"These fields may not be edited: {', '.join(unknown)}."
    # Types and lengths are agents.framework.input_rules' to check, before any rule here. A field
    # proposed as a number takes a number only, in the words the decision form uses too.
    for name, value in update.edits.items():
        if refusal := edit_value_refusal(name, gate.recommendation.proposal.get(name), value):
            return refusal
    return None


def apply_decision(gate: GateSnapshot, update: DecideInput, now: datetime) -> GateSnapshot:
    original = gate.recommendation.proposal
    edits = {k: v for k, v in update.edits.items() if v != original.get(k)}
    return replace(
        gate,
        status=DECISION_STATUS[update.decision],
        decided_by=update.reviewer,
        decided_by_id=update.reviewer_id,
        decided_via=update.origin,
        decision_id=update.action_id,
        decided_at=now,
        reason=update.reason.strip(),
        edits=edits,
        edit_diff=edit_diff(original, edits),
        version=gate.version + 1,
    )


def edit_diff(original: dict[str, Any], edits: dict[str, Any]) -> str:
    """A unified diff of each edited field, as recorded in history and shown to reviewers."""
    chunks: list[str] = []
    for name in sorted(edits):
        before = str(original.get(name, "")).splitlines(keepends=True)
        after = str(edits[name]).splitlines(keepends=True)
        chunks.extend(difflib.unified_diff(before, after, f"{name} (proposed)", f"{name} (approved)"))
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)


def proposal_after_review(gate: GateSnapshot, *, numbers: bool) -> dict[str, Any]:
    """What was approved: the proposal with the reviewer's edits applied. Edits arrive as text;
    with `numbers` (patch numeric-edits), an edit of a field proposed as a number is applied as a
    number of its kind (agents.framework.input_rules.edited_value), as the tool takes it. Runs
    begun before that patch applied the text, and replay so."""
    proposal = gate.recommendation.proposal
    if not numbers:
        return {**proposal, **gate.edits}
    return {**proposal, **{name: edited_value(proposal.get(name), text) for name, text in gate.edits.items()}}


def annotation_refusal(gate: GateSnapshot | None, note: AnnotateInput) -> str | None:
    if gate is None or gate.gate_id != note.gate_id:
        return "This gate does not exist in this agent run."
    if gate.role not in note.reviewer_roles and not is_override(note):
        return f"Only a reviewer with the role '{gate.role}' may annotate this gate."
    if not note.text.strip():
        return "An annotation needs some text."
    if len(gate.annotations) >= MAX_NOTES:
        return f"This gate has {MAX_NOTES} notes, the most it keeps; summarise the discussion in a decision."
    if sum(len(a.text) for a in gate.annotations) + len(note.text) > MAX_NOTES_CHARACTERS:
        return (
            f"This gate's notes would pass {MAX_NOTES_CHARACTERS:,} characters in all; keep this one shorter."
        )
    return None


def annotate(gate: GateSnapshot, note: AnnotateInput, now: datetime) -> GateSnapshot:
    annotation = Annotation(author=note.reviewer, text=note.text.strip(), at=now, author_id=note.reviewer_id)
    return replace(gate, annotations=[*gate.annotations, annotation], version=gate.version + 1)


def reopen(
    gate: GateSnapshot, recommendation: Recommendation, now: datetime, *, keep_clock: bool = False
) -> GateSnapshot:
    """The agent answered a change request: the same gate with a new recommendation, and the SLA
    time that was left (`keep_clock`) or a full SLA (runs recorded before): agents.framework.sla."""
    revision = Revision(gate.recommendation, gate.decided_by, gate.reason, gate.decided_at or now)
    return replace(
        gate,
        recommendation=recommendation,
        revisions=[*gate.revisions, revision],
        status=PENDING,
        decided_by="",
        decided_by_id="",
        decided_via="",
        decision_id="",
        decided_at=None,
        reason="",
        edits={},
        edit_diff="",
        opened_at=now,
        deadline=sla.reopened_deadline(gate, now, keep_clock=keep_clock),
        warned=False,
        version=gate.version + 1,
    )


def assignment_refusal(gate: GateSnapshot | None, change: AssignInput) -> str | None:
    """Why a claim, unclaim or (re)assignment must be refused; None if it may apply."""
    if gate is None or gate.gate_id != change.gate_id:
        return "This gate does not exist in this agent run."
    if gate.status != PENDING:
        return f"This gate was already decided ({gate.status} by {gate.decided_by})."
    if is_override(change) and not change.reason.strip():
        return "An operator override needs a reason."
    supervisor = bool(set(gate.supervisors) & set(change.reviewer_roles)) or is_override(change)
    if gate.role not in change.reviewer_roles and not supervisor:
        return f"Only a reviewer with the role '{gate.role}' may claim or assign this gate."
    if change.assignee and gate.role not in change.assignee_roles:
        return f"{change.assignee} does not have the role '{gate.role}'."
    submitter = (gate.submitted_by, gate.submitted_by_id)
    if change.assignee and same_person(*submitter, change.assignee, change.assignee_id):
        return f"Four-eyes rule: {change.assignee} submitted this case."
    holder = (gate.assignee, gate.assignee_id)
    if gate.assignee and not same_person(*holder, change.reviewer, change.reviewer_id) and not supervisor:
        return f"This gate is claimed by {gate.assignee}."
    if not gate.assignee and not change.assignee:
        return "This gate is already unclaimed."
    if gate.assignee and change.assignee and same_person(*holder, change.assignee, change.assignee_id):
        return f"This gate is already claimed by {gate.assignee}."
    return None


def apply_assignment(gate: GateSnapshot, change: AssignInput) -> GateSnapshot:
    return replace(gate, assignee=change.assignee, assignee_id=change.assignee_id, version=gate.version + 1)


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
            assignee_id="",
            warned=False,
            version=gate.version + 1,
        )
    if policy.final_outcome == "hold":
        return replace(
            gate,
            role=ADMIN_ROLE,
            assignee="",
            assignee_id="",
            deadline=now + timedelta(days=HOLD_DAYS),
            escalation_level=gate.escalation_level + 1,
            needs_attention=f"Held for an admin: {policy.expiry_reason}",
            version=gate.version + 1,
        )
    return replace(
        gate,
        status=REJECTED,
        decided_by=SYSTEM_DECIDER,
        decided_at=now,
        reason=policy.expiry_reason,
        version=gate.version + 1,
    )


def warning_time(gate: GateSnapshot, policy: GatePolicy) -> datetime | None:
    """When the gate's reviewers are warned its SLA is running out; None if never."""
    if policy.warn_at <= 0 or gate.warned or gate.status != PENDING:
        return None
    return gate.deadline - timedelta(seconds=gate.sla_seconds * policy.warn_at)


# What a tool-call gate shows as its evidence: the run's small results (scores, lookups,
# checks), never large ones (a document section read), so a run with many such gates keeps its
# history and its carried state small.
TOOL_GATE_EVIDENCE_BYTES = 4096
TOOL_GATE_EVIDENCE_COUNT = 20


def tool_gate_evidence(results: list[ToolResult]) -> list[ToolResult]:
    """The latest results up to TOOL_GATE_EVIDENCE_COUNT, each of at most
    TOOL_GATE_EVIDENCE_BYTES as JSON, in the order they came."""
    small = [
        r
        for r in results
        if len(json.dumps([r.result, r.error], default=str, ensure_ascii=False)) <= TOOL_GATE_EVIDENCE_BYTES
    ]
    return small[-TOOL_GATE_EVIDENCE_COUNT:]

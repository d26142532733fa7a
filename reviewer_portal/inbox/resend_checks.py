"""The portal's own checks made again when a queued action is finally sent.

A decision is sent the moment it is made; while Temporal or the agents' worker is down it is kept
and sent later by the delivery loop (reviewer_portal.inbox.redelivery). The run checks what it can
when it arrives: the recommendation's revision, who holds the gate, the role, four eyes. It cannot
know what the portal showed the reviewer. So each decision keeps, as `seen`, a digest of each part
of the gate its reviewer decided on, and is not sent once a part has changed: a colleague's note,
new evidence, a move to another queue. A decision made in bulk also counted on the gate's flags
and its eligibility for a bulk decision, which a release of the agent's rules can change; one
made on the gate's own page was the reviewer's own look, which a flag asks for.

What the reviewer's own actions change is left out: their claim (a bulk decision queued behind
it), their own notes, the SLA's clock and warnings. "Decided on" is the gate as the portal held it
when the decision was recorded; the gate page's form names the recommendation's revision only.

Absences: marking someone absent released what they held, so a queued claim or assignment is not
sent to them, nor their decision on a gate they do not hold (the run would refuse it, in words an
absent reviewer cannot act on).

What "not sent" means is delivery's (`_held_back`): refused, or, when a copy sent before could
still reach the run, held until that is settled, as the record of what the run did.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from agents.framework.contract import ASSIGN, DECIDE
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.team.absences import absence_of

# Bumped when a part's fields change: a digest kept under another version is not compared.
VERSION = 1
# Each part of the gate a decision keeps a digest of: how a refusal names it, and its fields.
PARTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "case": ("the case", ("subject", "amount", "case", "submitted_by", "submitted_by_id")),
    "recommendation": (
        "the recommendation",
        ("recommendation", "rationale", "proposal", "editable", "tool_call", "revisions", "model"),
    ),
    "evidence": ("the evidence", ("tool_results", "risk_factors", "offline_model", "prompt_sha256")),
    "queue": ("its queue", ("role", "escalation_level", "needs_attention", "claim_required")),
}
# Kept by a decision made from the inbox's bulk form only.
BULK_PARTS = {"bulk": ("its flags or eligibility for a bulk decision", ("flags", "bulk_allowed"))}
# Colleagues' notes, digested apart: the reviewer's own are left out.
NOTES = "notes"
LABELS = {part: label for part, (label, _) in (PARTS | BULK_PARTS).items()} | {NOTES: "a colleague's note"}


def seen_of(gate: Gate, *, reviewer_id: object, bulk: bool = False) -> dict[str, Any]:
    """What a decision keeps of the gate its reviewer decided on (digests, part by part)."""
    parts = PARTS | BULK_PARTS if bulk else PARTS
    digests = {part: _digest([getattr(gate, name) for name in names]) for part, (_, names) in parts.items()}
    return {"v": VERSION, **digests, NOTES: _digest(_notes_of_others(gate, reviewer_id))}


def resend_refusal(attempt: ActionAttempt) -> str:
    """Why the portal stops sending this queued action, "" if it goes on: checked against the gate
    and the absences as they are now, read just before the send (a delivery pass may have read
    the gate long before, while sending the claim ahead of a decision)."""
    if attempt.action == ASSIGN and attempt.assignee is not None:
        return _absent_assignee(attempt, attempt.assignee)
    seen = attempt.seen
    if attempt.action != DECIDE or not seen or seen.get("v") != VERSION:
        return ""  # recorded before these checks: the run's own checks alone, as then
    gate = Gate.objects.get(pk=attempt.gate_id)
    now = seen_of(gate, reviewer_id=attempt.reviewer_id, bulk=any(part in seen for part in BULK_PARTS))
    changed = [label for part, label in LABELS.items() if part in seen and seen[part] != now.get(part)]
    if changed:
        return (
            f"The gate changed since you decided ({', '.join(changed)}), so the portal stopped sending "
            "your decision: open the gate to see what changed, and decide again."
        )
    away = absence_of(attempt.reviewer)
    if away and gate.claim_required and str(attempt.reviewer_id) != gate.assignee_id:
        return (
            f"You are marked absent (since {away.since:%Y-%m-%d %H:%M} UTC) and do not hold this gate, so the "
            "portal stopped sending your decision: a colleague in the queue decides it."
        )
    return ""


def _absent_assignee(attempt: ActionAttempt, assignee: AbstractBaseUser) -> str:
    """A claim or assignment is not sent to someone marked absent since: marking them absent
    released what they held, and the team view offers only those present."""
    away = absence_of(assignee)
    if away is None:
        return ""
    since = f"since {away.since:%Y-%m-%d %H:%M} UTC, by {away.marked_by.get_username()}"
    if attempt.assignee_id == attempt.reviewer_id:
        return (
            f"You are marked absent ({since}), so the portal stopped sending your claim: ask a supervisor "
            "to mark you present before you claim gates."
        )
    return (
        f"{assignee.get_username()} is marked absent ({since}), so the portal stopped sending this "
        "assignment: assign the gate to someone present."
    )


def _notes_of_others(gate: Gate, reviewer_id: object) -> list[Any]:
    return [note for note in gate.annotations if str(note.get("author_id", "")) != str(reviewer_id)]


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()

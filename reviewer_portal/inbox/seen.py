"""What a reviewer saw of a gate, part by part, as digests: kept with each decision (`seen_of`),
and carried by the gate page's decision form (`shown_token`), so that a decision is not sent to a
gate that has changed in a way its reviewer has not seen.

The parts are what a reviewer decides on: the case, the recommendation, the evidence, the queue,
colleagues' notes (their own left out), and for a decision made in bulk the gate's flags and
eligibility. What their own actions and the clock change is left out: a claim, a note of theirs,
the SLA's deadline and warnings. Beside the parts, a decision keeps the run's own digest of the gate
(CONTENT) and names it in its Update: the run refuses a decision on a gate it holds otherwise.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from reviewer_portal.inbox.models import Gate

# Bumped when a part's fields change: a digest kept under another version is not compared.
VERSION = 1
# Each part: how a refusal names it, and the gate's fields it digests.
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
# The run's digest of the gate (not a part: the run, not the portal, compares it).
CONTENT = "content"
LABELS = {part: label for part, (label, _) in (PARTS | BULK_PARTS).items()} | {NOTES: "a colleague's note"}
# The decision form carries this many hex digits of each part's digest: enough to tell a change.
SHOWN_DIGITS = 12
SHOWN_MAX_LENGTH = 400  # a token is about 110 characters; anything longer is not one of ours


def seen_of(gate: Gate, *, reviewer_id: object, bulk: bool = False) -> dict[str, Any]:
    """What a decision keeps of the gate its reviewer decided on (digests, part by part), and the
    run's own digest of it (CONTENT, "" for a row no run has digested), which the decision names
    for the run to check."""
    parts = PARTS | BULK_PARTS if bulk else PARTS
    digests = {part: _digest([getattr(gate, name) for name in names]) for part, (_, names) in parts.items()}
    notes = _digest(_notes_of_others(gate, reviewer_id))
    return {"v": VERSION, **digests, NOTES: notes, CONTENT: gate.content_digest}


def changed_parts(seen: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The parts (in words) whose digests differ between two `seen_of`s; none if `seen` was kept
    under another version (or is not a mapping at all)."""
    if not isinstance(seen, dict) or seen.get("v") != now.get("v"):
        return []
    return [label for part, label in LABELS.items() if part in seen and seen[part] != now.get(part)]


def shown_token(gate: Gate, *, reviewer_id: object) -> str:
    """The gate as the page shows it to this reviewer, for the decision form: short digests."""
    seen = seen_of(gate, reviewer_id=reviewer_id)
    return ".".join([f"v{VERSION}", *(f"{part}-{seen[part][:SHOWN_DIGITS]}" for part in [*PARTS, NOTES])])


def changed_since_shown(now: dict[str, Any], token: str) -> list[str]:
    """The parts (their keys; LABELS has their words) whose digests in `now` (a `seen_of` of the
    gate as it is) differ from what the page showed, `token`; none for a form without one, or
    with one this portal did not write (an older page: the revision alone is checked)."""
    fields = token.split(".")
    if fields[0] != f"v{VERSION}":
        return []
    shown = dict(field.partition("-")[::2] for field in fields[1:])
    return [part for part in [*PARTS, NOTES] if part in shown and shown[part] != now[part][:SHOWN_DIGITS]]


def _notes_of_others(gate: Gate, reviewer_id: object) -> list[Any]:
    return [note for note in gate.annotations if str(note.get("author_id", "")) != str(reviewer_id)]


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()

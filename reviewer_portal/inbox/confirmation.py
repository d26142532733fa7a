"""The confirm step of a decision: one against the AI's recommendation, or made with a keyboard
shortcut, is asked again with a required reason before anything is recorded or sent.

The step is the server's: the decision panel comes back as the question, carrying a signed token
that binds the gate, the action id, the decision, the recommendation it was made on and the
edits. A confirming post must carry that token unchanged and a reason; anything else (a
`confirmed` post without the step, a decision switched at the step) is refused with nothing sent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.core import signing

from reviewer_portal.dashboard.verdicts import verdict_of
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.templatetags.gate_format import recommendation_label

SALT = "inbox.decision-confirmation"
# Long enough to read the case again and write a reason; after it, the step is asked afresh.
MAX_AGE_SECONDS = 30 * 60
# The decisions a verdict or a shortcut can be about (a change request is neither).
VERDICT_DECISIONS = ("approve", "reject")
VERBS = {"approve": "Approve", "reject": "Reject"}
NOUNS = {"approve": "approval", "reject": "rejection"}
TAMPERED = (
    "This confirmation does not match the decision you were asked to confirm, or it has expired; "
    "nothing was sent. Decide again from the panel."
)
NO_REASON = "Say why you are confirming this decision; nothing was sent."


@dataclass(frozen=True)
class ConfirmStep:
    """What the panel asks: the question, the decision it confirms and the signed token."""

    decision: str
    question: str
    button: str  # "Confirm approval"
    token: str
    keyboard: bool


def ai_verdict(gate: Gate) -> str | None:
    """What the AI's recommendation asks of the reviewer: a tool call it proposes, approval; an
    outcome, the agent's declared verdict. A "refer" carries none: it asks a person to judge."""
    return "approve" if gate.tool_call else verdict_of(gate.agent, gate.recommendation)


def against_ai(gate: Gate, decision: str) -> bool:
    """Whether `decision` overrides the AI's own verdict (approve against decline, reject against
    approve or a proposed action). No mouse decision on a "refer" is against it."""
    if decision not in VERDICT_DECISIONS:
        return False
    verdict = ai_verdict(gate)
    return verdict is not None and verdict != decision


def confirm_step(gate: Gate, data: dict[str, Any], *, keyboard: bool) -> ConfirmStep | None:
    """The step to ask before sending this decision, or None if it may go as it is."""
    decision = data["decision"]
    if decision not in VERDICT_DECISIONS or not (keyboard or against_ai(gate, decision)):
        return None
    ai = recommendation_label(gate)
    verb = VERBS[decision]
    if ai_verdict(gate) != decision:
        question = f"The AI recommended {ai}. {verb} anyway?"
    else:
        question = f"You chose {verb} with a keyboard shortcut (the AI recommended {ai}). Confirm it?"
    token = signing.dumps(_binding(gate, data), salt=SALT, compress=True)
    return ConfirmStep(decision, question, f"Confirm {NOUNS[decision]}", token, keyboard)


def confirmation_refusal(gate: Gate, data: dict[str, Any], reason: str) -> str | None:
    """Why a confirming post must not be sent; None when it confirms the step it was asked.
    `reason` is the one sent: a rejection's grounds count as one."""
    try:
        bound = signing.loads(data.get("confirm_token", ""), salt=SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:
        return TAMPERED
    if bound != _binding(gate, data):
        return TAMPERED
    if not reason.strip():
        return NO_REASON
    return None


def _binding(gate: Gate, data: dict[str, Any]) -> dict[str, Any]:
    """What a confirmation is about; the reason is written at the step, so it is not bound."""
    edits = {k: str(v).replace("\r\n", "\n") for k, v in data.items() if k.startswith("edit_")}
    digest = hashlib.sha256(json.dumps([edits, data.get("preset", "")], sort_keys=True).encode()).hexdigest()
    return {
        "gate": gate.gate_id,
        "reviewer": data["reviewer"],
        "action": str(data["submission_id"]),
        "decision": data["decision"],
        "revision": data["revision"],
        "edits": digest,
    }

"""What happened to a reviewer's action, in the words the gate page and the bulk results use."""

from __future__ import annotations

from django.contrib import messages
from django.utils import timezone

from reviewer_portal.inbox.models import ActionAttempt

Status = ActionAttempt.Status
DECISION_NOUNS = {"approve": "approval", "reject": "rejection", "request_changes": "change request"}
LEVEL = {
    Status.ACCEPTED: messages.SUCCESS,
    Status.REFUSED: messages.ERROR,
    Status.UNDELIVERED: messages.WARNING,
    Status.SENDING: messages.WARNING,
    Status.HELD: messages.WARNING,
}


# Accepted after all: a copy sent before reached the run while the action was being withdrawn
# by its reviewer (LATE) or held back by the portal (ARRIVED).
LATE = "It reached the agent before the withdrawal could take effect, so it stands."
ARRIVED = "A copy sent before the portal stopped sending it reached the agent, so it stands."


def action_noun(attempt: ActionAttempt) -> str:
    """ "approval", "note", "claim"...: what the reviewer did, lower case."""
    if attempt.action == ActionAttempt.Action.DECIDE:
        return DECISION_NOUNS.get(attempt.decision, "decision")
    if attempt.action == ActionAttempt.Action.ANNOTATE:
        return "note"
    if attempt.assignee_id is None:
        return "release of the gate"
    return "claim" if attempt.assignee_id == attempt.reviewer_id else "assignment"


def outcome_text(attempt: ActionAttempt) -> str:
    noun = action_noun(attempt)
    if attempt.status == Status.ACCEPTED:
        after_all = f" {attempt.detail}" if attempt.detail in (LATE, ARRIVED) else ""
        return f"{noun.capitalize()} recorded by the agent.{after_all}"
    if attempt.status == Status.REFUSED:
        return f"{noun.capitalize()} refused: {attempt.detail}"
    if attempt.status == Status.HELD:
        return (
            f"{attempt.detail} A copy sent earlier could still reach the agent: this is settled once the "
            f"agent confirms it did not{_until(attempt)}."
        )
    if attempt.status == Status.WITHDRAWING:
        return (
            f"You withdrew your {noun}: it is not sent again. The withdrawal is final once no copy "
            "already sent can reach the agent and the agent confirms it never received it."
        )
    if attempt.status == Status.WITHDRAWN:
        return f"Your {noun} was withdrawn before it reached the agent."
    return f"Your {noun} is recorded and will be sent. {attempt.detail}".strip()


def one_at_a_time_text(waiting: ActionAttempt) -> str:
    """Why another decision of the reviewer's on the gate is not taken while `waiting` is open."""
    noun = action_noun(waiting)
    if waiting.status == Status.HELD:
        return (
            f"The portal stopped sending your {noun} on this gate, and is confirming with the agent that no "
            f"earlier copy reached it{_until(waiting)}: you can decide again once that is settled."
        )
    if waiting.status != Status.WITHDRAWING:
        return (
            f"Your {noun} on this gate is recorded and will be sent; withdraw it first to decide differently."
        )
    return (
        f"You withdrew your {noun} on this gate, and the withdrawal is being confirmed with the "
        f"agent{_until(waiting)}: you can decide again once it is final."
    )


def _until(attempt: ActionAttempt) -> str:
    until = attempt.in_flight_until
    if until is None or until <= timezone.now():
        return " (while the agent is out of reach)" if until else ""
    return f" (until about {until:%H:%M} UTC, and while the agent is out of reach)"


REPORT_WORDS = {
    Status.ACCEPTED: "accepted",
    Status.REFUSED: "refused",
    Status.UNDELIVERED: "still queued",
    Status.SENDING: "still queued",
    Status.WITHDRAWING: "withdrawal pending",
    Status.HELD: "held back",
    Status.WITHDRAWN: "withdrawn",
}


def redelivery_report(attempts: list[ActionAttempt]) -> str:
    """What one round of `deliver_decisions` did: a summary line, then a line per action."""
    words = [REPORT_WORDS[a.status] for a in attempts]
    counts = ", ".join(f"{words.count(w)} {w}" for w in dict.fromkeys(words))
    plural = "s" if len(attempts) != 1 else ""
    lines = [f"Handled {len(attempts)} queued reviewer action{plural}: {counts}."]
    for attempt, word in zip(attempts, words, strict=True):
        detail = f": {attempt.detail}" if attempt.detail and attempt.status != Status.ACCEPTED else ""
        who = attempt.reviewer.get_username()
        lines.append(f"  {attempt.action_id} ({action_noun(attempt)} by {who}): {word}{detail}")
    return "\n".join(lines)

"""What the portal itself knows of a run that Temporal's history does not: reviewer actions it
recorded but the run never applied (refused by the workflow or the portal, withdrawn, or still
queued). A refused Update leaves no trace in history, so the audit trail shows them from here."""

from __future__ import annotations

from reviewer_portal.audit.timeline import TimelineEntry
from reviewer_portal.inbox.models import ActionAttempt
from reviewer_portal.inbox.outcomes import REPORT_WORDS, action_noun

Status = ActionAttempt.Status


def unapplied_actions(*, workflow_id: str) -> list[TimelineEntry]:
    """The run's reviewer actions that never took effect, as timeline entries, oldest first."""
    attempts = (
        ActionAttempt.objects.filter(gate__workflow_id=workflow_id)
        .exclude(status=Status.ACCEPTED)
        .select_related("reviewer", "assignee")
        .order_by("created_at")
    )
    return [_entry(attempt) for attempt in attempts]


def _entry(attempt: ActionAttempt) -> TimelineEntry:
    who = attempt.reviewer.get_username()
    via = " (operator command)" if attempt.origin == "operator" else ""
    state = REPORT_WORDS.get(attempt.status, f"in an unknown state ({attempt.status!r})")
    title = f"{action_noun(attempt).capitalize()} by {who}{via} {state}"
    if attempt.detail:
        title += f": {attempt.detail}"
    data = {
        "action_id": attempt.action_id,
        "gate_id": attempt.gate_id,
        "reviewer": who,
        "reviewer_id": str(attempt.reviewer_id),
        "origin": attempt.origin,
        "status": attempt.status,
        "decision": attempt.decision,
        "reason": attempt.reason,
        "edits": attempt.edits,
        "text": attempt.text,
        "assignee": attempt.assignee.get_username() if attempt.assignee else "",
        "deliveries": attempt.deliveries,
        "recorded_at": attempt.created_at.isoformat(),
        "answered_at": attempt.updated_at.isoformat(),
    }
    return TimelineEntry(attempt.created_at, "portal", title, data)

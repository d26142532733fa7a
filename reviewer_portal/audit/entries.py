"""What a run's audit timeline is made of, and the entries of reviewers' actions (the workflow's
Updates, read from their accepted and completed events by reviewer_portal.audit.timeline)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agents.framework.contract import OPERATOR
from reviewer_portal.accounts.roles import REVIEWER_ROLES


@dataclass
class TimelineEntry:
    time: datetime
    kind: str  # run | llm | tool | gate | decision | note | assignment | refused | timer | failure
    title: str
    data: dict[str, Any] = field(default_factory=dict)


def update_entry(when: datetime, name: str, arg: Any, update_id: str) -> TimelineEntry:
    arg = arg if isinstance(arg, dict) else {}
    reviewer = str(arg.get("reviewer", "?"))
    by = f"{reviewer} (operator override)" if arg.get("origin") == OPERATOR else reviewer
    if name == "annotate":
        data = {"action": name, "update": arg, "update_id": update_id}
        return TimelineEntry(when, "note", f"Note by {by}: {arg.get('text', '')}", data)
    if name == "assign":
        assignee = arg.get("assignee", "")
        if not assignee:
            title = f"Unclaimed by {by}"
        elif assignee == reviewer:
            title = f"Claimed by {by}"
        else:
            title = f"Assigned to {assignee} by {by}"
        if arg.get("reason"):
            title += f": {arg['reason']}"
        return TimelineEntry(
            when, "assignment", title, {"action": name, "update": arg, "update_id": update_id}
        )
    title = f"{name}: {arg.get('decision', '?')} by {by}"
    if arg.get("edits"):
        title += f" with edits to {', '.join(sorted(arg['edits']))}"
    if arg.get("reason"):
        title += f": {arg['reason']}"
    return TimelineEntry(when, "decision", title, {"action": name, "update": arg, "update_id": update_id})


def refused_update_entry(when: datetime, name: str, arg: Any, update_id: str, message: str) -> TimelineEntry:
    """An Update its validator took and its handler refused (a rep's close behind another's): in
    the trail, never read as a decision, a closing or a note."""
    arg = arg if isinstance(arg, dict) else {}
    by = str(arg.get("reviewer") or arg.get("rep") or "?")
    data = {"action": name, "update": arg, "update_id": update_id, "refused": message}
    return TimelineEntry(when, "refused", f"{name} by {by} refused by the run: {message}", data)


# What a gate entry keeps of the gate it is about (reviewer_portal.audit.timeline).
GATE_KEYS = ("gate_id", "role", "status", "decided_by", "opened_at", "deadline", "version")


def gate_role(gate: dict[str, Any]) -> str:
    """The gate's role, as reviewers know it."""
    return REVIEWER_ROLES.get(gate["role"], gate["role"])

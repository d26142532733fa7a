"""The audit trail's reading of an opening whose workflow task was retried after its local publish
wrote the row: the run took the time reviewers first saw the gate (patch first-seen-opening, in
agents/framework/gate_flow.py), and the trail says the same, from the local publish's marker, and
says so in an entry of its own.

The time is the marker's (what the local publish answered, a recorded fact). A run takes it only
if it recorded a patch set with the patch, by the rule the run applies
(agents.framework.sla.first_seen_shift, kept for runs recorded with it), so the trail shows what
the run did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.api.history.v1 import MarkerRecordedEventAttributes

from agents.framework.patches import PATCH_FIRST_SEEN_OPENING, PATCH_SETS
from agents.framework.sla import first_seen_shift

# The marker the SDK records for `workflow.patched` (each run records its patch set's).
PATCH_MARKER = "core_patch"
TAKEN_BY = frozenset(name for name, members in PATCH_SETS if PATCH_FIRST_SEEN_OPENING in members)


@dataclass(frozen=True)
class Retried:
    """A publication as the run took it, and what the trail says of its retried opening."""

    publication: Any
    note: str = ""


def patch_of(marker: MarkerRecordedEventAttributes) -> str | None:
    """The patch (or patch set) a marker records, or None for another marker."""
    if marker.marker_name != PATCH_MARKER or "patch-data" not in marker.details:
        return None
    try:
        return str(json.loads(marker.details["patch-data"].payloads[0].data)["id"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def opened_when_first_seen(publication: Any, first_seen: Any, patches: set[str]) -> Retried:
    """`publication` (a local publish's, as decoded) with its gate opened at `first_seen` and its
    deadline as much earlier, where the run took that time; otherwise as it is. The note says which."""
    snapshot = publication.get("snapshot") if isinstance(publication, dict) else None
    if not first_seen or not isinstance(snapshot, dict):
        return Retried(publication)
    try:
        opened_at, deadline = (datetime.fromisoformat(snapshot[k]) for k in ("opened_at", "deadline"))
        shift = first_seen_shift(opened_at, datetime.fromisoformat(first_seen))
        opening = snapshot["version"] == 1 and not snapshot["escalation_level"] and not snapshot["revisions"]
    except (KeyError, TypeError, ValueError):
        return Retried(publication)
    if shift is None or not opening:
        return Retried(publication)
    if not TAKEN_BY & patches:
        note = f"Opening task retried: reviewers saw the gate from {first_seen}; this run, begun before that was taken, keeps {snapshot['opened_at']}"
        return Retried(publication, note)
    moved = {**snapshot, "opened_at": first_seen, "deadline": (deadline - shift).isoformat()}
    note = f"Opening task retried: the gate keeps the time reviewers first saw it, {first_seen} (the retry opened it again at {snapshot['opened_at']})"
    return Retried({**publication, "snapshot": moved}, note)

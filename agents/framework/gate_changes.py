"""A gate's changes as history carries them: each change once, never the whole gate again.

Update results and the projection's publish activity carry these (`patch` below makes them); the portal applies a patch to the gate it holds (reviewer_portal.inbox.projection).
Evaluated annotations, not strings: see agents/framework/types.py.
"""

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from agents.framework.types import Annotation, GateSnapshot, Revision


@dataclass
class GatePatch:
    """A gate's change from `base_version` to `version`: the fields that changed, by name, and the
    notes and revisions added. History carries each change once instead of the whole gate."""

    gate_id: str
    base_version: int
    version: int
    changes: dict[str, Any] = field(default_factory=dict)
    annotations: list[Annotation] = field(default_factory=list)
    revisions: list[Revision] = field(default_factory=list)


@dataclass
class GatePublication:
    """What the publish activity gets: the whole gate the first time, a patch for each change."""

    snapshot: GateSnapshot | None = None
    patch: GatePatch | None = None
    # The run's chain (its first run's id, kept by continue-as-new and reset): the projection takes
    # a gate's changes from the chain that opened it only. Empty from runs recorded before it.
    chain: str = ""
    # The run's digest of the gate published (agents.framework.gate_content), and for a patch of
    # the gate it follows on from: the projection takes a patch only onto the content it follows,
    # and keeps the digest for the portal's decisions to name. Empty from runs recorded before it.
    content: str = ""
    base_content: str = ""


@dataclass
class LocalPublication:
    """What the local publish answers: the projection's answer, and the publication itself. A
    local activity's marker keeps its result, never its input, so this is how the gate stands in
    history for the audit trail, as an activity task's input did."""

    in_sync: bool
    publication: GatePublication
    # When an earlier try of the same workflow task wrote this opening and failed before its task
    # completed: the time the projection has shown the gate since, which the run takes for its
    # own (patch first-seen-opening). None when this try wrote it, or the row says nothing new.
    first_seen: datetime | None = None


# Lists that only ever grow: a patch carries their new items, not the whole list again.
APPENDED = ("annotations", "revisions")


def patch(before: GateSnapshot, after: GateSnapshot) -> GatePatch:
    """What changed from `before` to `after` (a later version of the same gate)."""
    changes = {
        f.name: getattr(after, f.name)
        for f in fields(GateSnapshot)
        if f.name not in APPENDED and getattr(after, f.name) != getattr(before, f.name)
    }
    return GatePatch(
        gate_id=after.gate_id,
        base_version=before.version,
        version=after.version,
        changes=changes,
        annotations=after.annotations[len(before.annotations) :],
        revisions=after.revisions[len(before.revisions) :],
    )

"""A gate whose run was set back: a reset to before the model's step opens the gate again at a
version the projection has, with another answer (agents.framework.gate_content). Its publication
is not newer, so the version check alone would leave the row showing the first answer while the
run holds the second, and a decision made on the page would be refused by the run, again and again.

The row takes a publication that is not newer when all of these hold:
- it comes from another run than the one that last published the row (a late try of that run's own
  earlier publish is never taken; a row no run is recorded to have published, written by hand,
  planted, or rebuilt before runs were recorded, takes the run's), and that run is running (a run
  the reset ended may have a publish under way still);
- it holds other content than the row: by the run's digests, or, for a row no run has digested
  (written before digests, or rebuilt by reconcile), by the row's snapshot apart from its times;
- the gate is open in the row, with no request for changes and no more revisions than the run's. A
  decided gate is never opened again (reviewer_portal.inbox.row_guards keeps a decided row's
  decision whatever the version): its decision was applied, perhaps acted on, and the run that
  opened it again is an incident for the platform team; nor is a reviewer's request for changes
  dropped.
The log says either at WARNING or ERROR, `set back`.
"""

from __future__ import annotations

import logging
from typing import Any

from agents.framework.types import GateSnapshot
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.projection import gate_apply_snapshot, storable_snapshot
from reviewer_portal.inbox.row_guards import DECIDED, other_content
from reviewer_portal.inbox.run_chain import calling_run_is_open

log = logging.getLogger(__name__)
TIMES = ("opened_at", "deadline", "decided_at")


def set_back(snapshot: GateSnapshot, *, chain: str, run: str, content: str) -> bool:
    """Take `snapshot`, published by run `run` (of `chain`) with the run's digest `content`, onto a
    row at its version or a later one, as above; True if the row took it."""
    fields = ("content_digest", "status", "version", "run_id", "revisions")
    row = Gate.objects.filter(gate_id=snapshot.gate_id).values(*fields).first()
    if row is None or not content or not run or row["run_id"] == run or not _other(row, snapshot, content):
        return False
    if not calling_run_is_open():
        return False
    where = f"gate {snapshot.gate_id} set back: run {run} holds it otherwise at version {snapshot.version}"
    if row["status"] in DECIDED:
        log.error("%s; it was %s at version %s and is not opened again", where, row["status"], row["version"])
        return False
    if row["status"] == Gate.Status.CHANGES_REQUESTED or len(snapshot.revisions) < len(row["revisions"]):
        # A reviewer's request for changes, and the recommendations sent back, are not dropped.
        why = "its changes requested" if row["status"] == Gate.Status.CHANGES_REQUESTED else "its revisions"
        log.error("%s; the projection keeps %s at version %s", where, why, row["version"])
        return False
    log.warning("%s; the projection, at version %s, takes it", where, row["version"])
    return gate_apply_snapshot(
        snapshot=snapshot, chain=chain, run=run, content=content, set_back_from=row["content_digest"]
    )


def _other(row: dict[str, Any], snapshot: GateSnapshot, content: str) -> bool:
    if row["content_digest"]:
        return other_content(row["content_digest"], content)
    stored = Gate.objects.filter(gate_id=snapshot.gate_id).values_list("snapshot", flat=True).first()
    _, published = storable_snapshot(snapshot)
    return _untimed(stored or {}) != _untimed(published)


def _untimed(data: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in data.items() if name not in TIMES}

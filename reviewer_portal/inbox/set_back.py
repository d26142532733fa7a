"""A gate whose run was set back: a reset to before the model's step opens the gate again at a
version the projection has, with another answer (agents.framework.gate_content). Its publication
is not newer, so the version check alone would leave the row showing the first answer while the
run holds the second, and a decision made on the page would be refused by the run, again and again.

The row takes the run's gate if the gate is still open there and the publishing run is running (a
run the reset ended may have a publish under way still: that one is not taken). A decided gate is
never opened again: its decision was applied, perhaps acted on, and the run that reopened it is an
incident for the platform team. Either way the log says so, at WARNING or ERROR, `set back`.
"""

from __future__ import annotations

import logging

from agents.framework.types import GateSnapshot
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.projection import gate_apply_snapshot, other_content
from reviewer_portal.inbox.run_chain import calling_run_is_open

log = logging.getLogger(__name__)


def set_back(snapshot: GateSnapshot, *, chain: str, run: str, content: str) -> bool:
    """Take `snapshot`, published by run `run` (of `chain`) with the run's digest `content`, onto a
    row at its version or a later one holding other content, as above; True if the row took it."""
    row = (
        Gate.objects.filter(gate_id=snapshot.gate_id)
        .values_list("content_digest", "status", "version")
        .first()
    )
    if row is None or not other_content(row[0], content):
        return False
    held, status, version = row
    if not calling_run_is_open():
        return False
    where = f"gate {snapshot.gate_id} set back: run {run} holds another answer at version {snapshot.version}"
    if status != Gate.Status.PENDING:
        log.error("%s; the gate was %s at version %s and is not opened again", where, status, version)
        return False
    log.warning("%s; the projection, at version %s, takes it", where, version)
    return gate_apply_snapshot(snapshot=snapshot, chain=chain, run=run, content=content, set_back_from=held)

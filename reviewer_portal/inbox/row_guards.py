"""What the projection keeps whatever a run publishes: a decided gate's decision, and content a
run digested (agents.framework.gate_content) against a patch made on other content.

A run set back (reset) to before a decision opens the gate again in the run and may decide it
again: the row keeps the decision that was applied, perhaps acted on, and the log says so at
ERROR, `set back` (reviewer_portal.inbox.set_back takes an open gate's new answer).
"""

from __future__ import annotations

import logging

from django.db.models import Q

from agents.framework.gate_changes import GatePatch
from agents.framework.types import GateSnapshot
from reviewer_portal.inbox.models import Gate

log = logging.getLogger(__name__)
DECIDED = (Gate.Status.APPROVED, Gate.Status.REJECTED)
# What a decision is, beside its time: a decided row takes a publication only if these are alike.
DECISION_FIELDS = ("status", "decision_id", "decided_by", "decided_by_id", "reason")


def open_or_same_decision(snapshot: GateSnapshot) -> Q:
    """The rows `snapshot` may change: undecided ones, and decided ones it decides alike."""
    return ~Q(status__in=DECIDED) | same_decision(snapshot)


def same_decision(snapshot: GateSnapshot) -> Q:
    return Q(**{name: getattr(snapshot, name) for name in DECISION_FIELDS})


def decides_otherwise(row: Gate, patch: GatePatch) -> bool:
    """Whether `patch` changes the decision of `row`, a decided row at its version or later."""
    return row.status in DECIDED and any(
        name in patch.changes and patch.changes[name] != row.snapshot.get(name) for name in DECISION_FIELDS
    )


def decided_otherwise(snapshot: GateSnapshot) -> bool:
    """Whether the row holds a decision `snapshot` would change, `snapshot` being newer or decided
    itself (a run set back and decided again, or a row changed by hand; an undecided snapshot of an
    earlier version is a publish the row is ahead of): logged at ERROR, as the row keeps its decision."""
    decided = Gate.objects.filter(gate_id=snapshot.gate_id, status__in=DECIDED)
    if snapshot.status not in DECIDED:
        decided = decided.filter(version__lt=snapshot.version)
    row = decided.exclude(same_decision(snapshot)).values("status", "decided_by", "version").first()
    if row is not None:
        log.error(
            "gate %s set back: its run holds it %s by %s at version %s; the projection keeps %s by %s "
            "at version %s and is not opened again",
            snapshot.gate_id, snapshot.status, snapshot.decided_by or "nobody", snapshot.version,
            row["status"], row["decided_by"], row["version"],
        )  # fmt: skip
    return row is not None


def other_content(held: str, named: str) -> bool:
    """Whether a row holding `held` holds other content than the run's digest `named` (either
    empty: a row or a run from before digests, which cannot tell)."""
    return bool(held and named and held != named)

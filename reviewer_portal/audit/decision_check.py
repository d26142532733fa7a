"""Whether a decided gate, as the portal's projection records it, is what its run's trail says.

The projection is an ordinary table: an edit of who decided, or why, would read as the truth on
the AI Act record. The trail (Temporal's history while it keeps the run, the archive's chained and
signed record afterwards) holds what the run applied: a person's decision as the Update the portal
signed, or the SLA policy's closure. So the record is told from the signed decision, checked with
the portal's own public keys, and says where the projection differs from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from temporalio.converter import value_to_type

from agents.framework import signing
from agents.framework.contract import APPROVE, DECIDE, REJECT, SYSTEM_DECIDER
from agents.framework.reviewer_actions import DecideInput
from reviewer_portal.audit.entries import TimelineEntry
from reviewer_portal.audit.trail import HistoryUnavailable, Purged, find_trail
from reviewer_portal.inbox.models import Gate
from reviewer_portal.trust.public_keys import verification_keyring

MATCHES, DIFFERS, NOT_CHECKED = "matches", "differs", "not_checked"
STATUS_OF = {APPROVE: Gate.Status.APPROVED, REJECT: Gate.Status.REJECTED}


@dataclass(frozen=True)
class SignedDecision:
    """A person's decision as the run applied it, its signature checked."""

    reviewer: str
    reviewer_id: str
    status: str  # approved | rejected
    reason: str
    edits: dict[str, Any]
    action_id: str
    via: str  # "portal", or "operator" for the admin's override command
    key_id: str
    signed_at: str


@dataclass(frozen=True)
class Difference:
    name: str
    trail: Any
    projection: Any


@dataclass(frozen=True)
class DecisionCheck:
    state: str  # matches | differs | not_checked
    statement: str
    source: str = ""  # "Temporal" or "the archive": where the trail was read
    signed: SignedDecision | None = None
    # The gate's fields as the trail tells them, and those the projection holds otherwise.
    trail: dict[str, Any] = field(default_factory=dict)
    differences: tuple[Difference, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def decision_check(gate: Gate) -> DecisionCheck:
    """The decided gate checked against its run's trail, wherever that is kept now."""
    try:
        found = find_trail(gate.workflow_id)
    except (HistoryUnavailable, Purged, Http404) as err:
        return DecisionCheck(NOT_CHECKED, f"Not checked against the run's trail: {err}")
    return checked_against(gate, found.audit.entries, "the archive" if found.from_archive else "Temporal")


def checked_against(gate: Gate, entries: list[TimelineEntry], source: str) -> DecisionCheck:
    """The gate against these trail entries (its run's, oldest first)."""
    decisions = [e for e in entries if _final_decision_of(e, gate.gate_id)]
    closed = [e for e in entries if e.kind == "gate" and e.data.get("gate_id") == gate.gate_id]
    closed = [e for e in closed if e.data.get("status") in STATUS_OF.values()]  # only the policy's
    if not decisions:
        if not closed:
            return DecisionCheck(DIFFERS, "The run's trail holds no decision on this gate.", source)
        trail = {"decided_by": SYSTEM_DECIDER, "status": closed[-1].data["status"]}
        return _verdict(gate, trail, source, None, "the SLA policy's closure")
    applied = next(
        (e for e in reversed(decisions) if e.data["update"].get("action_id") == gate.decision_id),
        decisions[-1],
    )
    signed = _signed(applied, gate.workflow_id)
    if isinstance(signed, str):
        return DecisionCheck(DIFFERS, f"The decision in the run's trail does not verify: {signed}", source)
    trail = {
        "decided_by": signed.reviewer,
        "decided_by_id": signed.reviewer_id,
        "status": signed.status,
        "reason": signed.reason,
        "edits": signed.edits,
        "decision_id": signed.action_id,
        "decided_via": signed.via,
    }
    return _verdict(gate, trail, source, signed, f"{signed.reviewer}'s signed decision")


def _final_decision_of(entry: TimelineEntry, gate_id: str) -> bool:
    update = entry.data.get("update")
    return (
        entry.kind == "decision"
        and entry.data.get("action") == DECIDE
        and isinstance(update, dict)
        and update.get("gate_id") == gate_id
        and update.get("decision") in STATUS_OF
    )


def _signed(entry: TimelineEntry, workflow_id: str) -> SignedDecision | str:
    """The entry's decision if the portal's keys verify its signature, else why not."""
    try:
        update = value_to_type(DecideInput, entry.data["update"])
    except (TypeError, ValueError, KeyError) as err:
        return f"it cannot be read ({err})."
    if update.signature is None:
        return "it is not signed by the portal."
    try:
        keys = verification_keyring()
        signed_at = datetime.fromisoformat(update.signature.signed_at)
    except (ImproperlyConfigured, ValueError) as err:
        return str(err)
    refusal = signing.signature_refusal(
        DECIDE,
        update,
        pinned=keys,
        workflow_id=workflow_id,
        update_id=entry.data.get("update_id", ""),
        now=signed_at,
    )
    if refusal:
        return refusal
    return SignedDecision(
        reviewer=update.reviewer,
        reviewer_id=update.reviewer_id,
        status=STATUS_OF[update.decision],
        reason=update.reason,
        edits=dict(update.edits),
        action_id=update.action_id,
        via=update.origin,
        key_id=update.signature.key_id,
        signed_at=update.signature.signed_at,
    )


def _verdict(
    gate: Gate, trail: dict[str, Any], source: str, signed: SignedDecision | None, what: str
) -> DecisionCheck:
    differences = tuple(
        Difference(name, value, getattr(gate, name))
        for name, value in trail.items()
        if getattr(gate, name) != value
    )
    if not differences:
        statement = f"Matches {what} in the run's trail, read from {source}."
        return DecisionCheck(MATCHES, statement, source, signed, trail)
    fields = ", ".join(d.name for d in differences)
    statement = (
        f"The portal's records differ from {what} in the run's trail, read from {source} ({fields}): "
        "this record tells the trail's version. The portal's database may have been edited."
    )
    return DecisionCheck(DIFFERS, statement, source, signed, trail, differences)

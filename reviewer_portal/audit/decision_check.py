"""Whether a decided gate, as the portal's projection records it, is what its run's trail says.

The projection is an ordinary table: an edit of who decided, why, or what the AI recommended would
read as the truth on the AI Act record. The trail (Temporal's history while it keeps the run, the
archive's chained and signed record afterwards) holds what the run did:

- a person's decision as the Update the portal signed (for a support conversation's handoff, its
  rep's closing of it), checked with the portal's public keys, or the SLA policy's closure;
- once the run has completed, its own last snapshot of the gate: every column the projection
  writes from it is compared (the case, the recommendation and its rationale, the evidence, the
  role, the times, the reason, the edits...).

The record is told from the trail, and says where the projection differs, field by field. A gate
whose trail cannot be found at all (not in Temporal, its archive record missing or altered) is a
difference too, never "not checked": only a passing outage is that.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from temporalio.converter import value_to_type

from agents.framework import signing
from agents.framework.contract import APPROVE, APPROVED, DECIDE, PORTAL, REJECT, SYSTEM_DECIDER
from agents.framework.reviewer_actions import DecideInput
from agents.framework.types import GateSnapshot
from agents.support.contract import REP_CLOSE, RepAction
from agents.support.handoff import HANDOFF_KIND, closing_reason
from agents.support.rep_actions import rep_action_refusal
from reviewer_portal.audit.entries import TimelineEntry
from reviewer_portal.audit.trail import HistoryUnavailable, Purged, TrailMissing, find_trail
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.projection import gate_fields
from reviewer_portal.trust.public_keys import verification_keyring

log = logging.getLogger(__name__)
MATCHES, DIFFERS, NOT_CHECKED = "matches", "differs", "not_checked"
STATUS_OF = {APPROVE: Gate.Status.APPROVED, REJECT: Gate.Status.REJECTED}
# The columns of the record the run's last snapshot vouches for.
SNAPSHOT_FIELDS = (
    "workflow_id", "agent", "kind", "subject", "case", "submitted_by", "submitted_by_id",
    "recommendation", "rationale", "risk_factors", "proposal", "tool_call", "revisions", "tool_results",
    "model", "offline_model", "prompt_id", "prompt_version", "prompt_sha256", "role", "status",
    "opened_at", "deadline", "escalation_level", "decided_by", "decided_by_id", "decided_via",
    "decision_id", "decided_at", "reason", "edits", "edit_diff",
)  # fmt: skip


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
    checked: tuple[str, ...] = ()  # the fields compared

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def decision_check(gate: Gate) -> DecisionCheck:
    """The gate checked against its run's trail, wherever that is kept now. The run is the one
    the gate's id names (`<workflow id>--g<n>`), whatever the row's workflow id says."""
    workflow_id = gate.gate_id.rsplit("--g", 1)[0]
    try:
        found = find_trail(workflow_id, gate.chain_id)
    except (TrailMissing, Http404) as err:
        return DecisionCheck(DIFFERS, f"No trail of this run stands behind the record: {_text(err)}")
    except (HistoryUnavailable, Purged) as err:
        return DecisionCheck(NOT_CHECKED, f"Not checked against the run's trail: {err}")
    except Exception as err:  # a page that says so beats a 500, for an auditor
        log.exception("The AI Act record of %s could not be checked", gate.gate_id)
        return DecisionCheck(
            NOT_CHECKED, f"Not checked against the run's trail: it could not be read ({type(err).__name__})."
        )
    entries = [e for e in found.audit.entries if e.kind != "portal"]  # the run's own, not the portal's
    return checked_against(gate, entries, "the archive" if found.from_archive else "Temporal", workflow_id)


def checked_against(gate: Gate, entries: list[TimelineEntry], source: str, workflow_id: str) -> DecisionCheck:
    """The gate against these trail entries (its run's, oldest first)."""
    if gate.kind == HANDOFF_KIND:  # one per conversation, closed by its rep's own action
        decisions = [e for e in entries if e.kind == "decision" and e.data.get("action") == REP_CLOSE]
    else:
        decisions = [e for e in entries if _final_decision_of(e, gate.gate_id)]
    published = [e for e in entries if e.kind == "gate" and e.data.get("gate_id") == gate.gate_id]
    closed = [  # only the SLA policy's (a trail from before entries named who decided: all closures)
        e
        for e in published
        if e.data.get("status") in STATUS_OF.values()
        and e.data.get("decided_by", SYSTEM_DECIDER) == SYSTEM_DECIDER
    ]
    trail: dict[str, Any] = {"workflow_id": workflow_id}
    signed = None
    if decisions:
        # The last one the run applied (one it refused in its turn is not a decision: timeline),
        # never one a column of the projection points at.
        signed = _signed(decisions[-1], workflow_id)
        if isinstance(signed, str):
            return DecisionCheck(
                DIFFERS, f"The decision in the run's trail does not verify: {signed}", source
            )
        trail |= {
            "decided_by": signed.reviewer,
            "decided_by_id": signed.reviewer_id,
            "status": signed.status,
            "reason": signed.reason,
            "decision_id": signed.action_id,
            "decided_via": signed.via,
        }
        closing = "closing of the conversation" if gate.kind == HANDOFF_KIND else "decision"
        what = f"{signed.reviewer}'s signed {closing}"
    elif closed:
        trail |= {"decided_by": SYSTEM_DECIDER, "status": closed[-1].data["status"]}
        what = "the SLA policy's closure"
    else:
        return DecisionCheck(DIFFERS, "The run's trail holds no decision on this gate.", source, trail=trail)
    final = _final_snapshot(entries, gate.gate_id) or _last_published(published)
    if final is not None:  # the run's own word on every field; the signature's stands
        trail = {**{name: final[name] for name in SNAPSHOT_FIELDS}, **trail}
        what += " and the run's last snapshot of the gate"
    return _verdict(gate, trail, source, signed, what)


def _final_decision_of(entry: TimelineEntry, gate_id: str) -> bool:
    update = entry.data.get("update")
    return (
        entry.kind == "decision"
        and entry.data.get("action") == DECIDE
        and isinstance(update, dict)
        and update.get("gate_id") == gate_id
        and update.get("decision") in STATUS_OF
    )


def _final_snapshot(entries: list[TimelineEntry], gate_id: str) -> dict[str, object] | None:
    """The gate as the completed run returned it, in the projection's columns; None if the run
    has not completed (or returned no such gate)."""
    completed = [e for e in entries if e.kind == "run" and isinstance(e.data.get("result"), dict)]
    gates = completed[-1].data["result"].get("gates") if completed else None
    for data in gates if isinstance(gates, list) else []:
        if isinstance(data, dict) and data.get("gate_id") == gate_id:
            return _as_columns(data)
    return None


def _last_published(published: list[TimelineEntry]) -> dict[str, object] | None:
    """The gate as the run last recorded a decision on it (a conversation's result holds no
    gate, nor does a run still going), in the projection's columns; None if there is none."""
    snapshots = [e.data["snapshot"] for e in published if isinstance(e.data.get("snapshot"), dict)]
    return _as_columns(snapshots[-1]) if snapshots else None


def _as_columns(data: dict[str, Any]) -> dict[str, object] | None:
    try:
        return gate_fields(value_to_type(GateSnapshot, data))
    except (TypeError, ValueError, KeyError):
        return None


def _signed(entry: TimelineEntry, workflow_id: str) -> SignedDecision | str:
    """The entry's decision if the portal's keys verify its signature, else why not."""
    action = DECIDE if entry.data.get("action") == DECIDE else REP_CLOSE
    try:
        update = value_to_type(DecideInput if action == DECIDE else RepAction, entry.data["update"])
    except (TypeError, ValueError, KeyError) as err:
        return f"it cannot be read ({err})."
    if update.signature is None:
        return "it is not signed by the portal."
    try:
        keys = verification_keyring()
        signed_at = datetime.fromisoformat(update.signature.signed_at)
    except (ImproperlyConfigured, ValueError) as err:
        return str(err)
    update_id = entry.data.get("update_id", "")
    where = {"pinned": keys, "workflow_id": workflow_id, "update_id": update_id, "now": signed_at}
    if isinstance(update, RepAction):
        refusal = rep_action_refusal(REP_CLOSE, update, **where)
    else:
        refusal = signing.signature_refusal(DECIDE, update, **where)
    if refusal:
        return refusal
    signature = update.signature.key_id, update.signature.signed_at
    if isinstance(update, RepAction):  # a rep's closing of a conversation (agents.support.handoff)
        return SignedDecision(
            update.rep,
            update.rep_id,
            APPROVED,
            closing_reason(update),
            {},
            update.action_id,
            PORTAL,
            *signature,
        )
    return SignedDecision(
        reviewer=update.reviewer,
        reviewer_id=update.reviewer_id,
        status=STATUS_OF[update.decision],
        reason=update.reason.strip(),  # as the run keeps it
        edits=dict(update.edits),
        action_id=update.action_id,
        via=update.origin,
        key_id=signature[0],
        signed_at=signature[1],
    )


def _verdict(
    gate: Gate, trail: dict[str, Any], source: str, signed: SignedDecision | None, what: str
) -> DecisionCheck:
    differences = tuple(
        Difference(name, value, getattr(gate, name))
        for name, value in trail.items()
        if getattr(gate, name) != value
    )
    checked = tuple(trail)
    if not differences:
        statement = f"Matches {what} in the run's trail, read from {source}."
        return DecisionCheck(MATCHES, statement, source, signed, trail, checked=checked)
    fields = ", ".join(d.name for d in differences)
    statement = (
        f"The portal's records differ from {what} in the run's trail, read from {source} ({fields}): "
        "this record tells the trail's version. The portal's database may have been edited."
    )
    return DecisionCheck(DIFFERS, statement, source, signed, trail, differences, checked)


def _text(err: Exception) -> str:
    return "the run is not in Temporal or in the archive." if isinstance(err, Http404) else str(err)

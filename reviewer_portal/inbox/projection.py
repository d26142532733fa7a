"""Writes to the gate projection. The workflow's publish activity and the portal's own write
after an accepted Update both come through here; the version check makes them commute, so
whichever arrives second and is older changes nothing.

The workflow sends a gate whole the first time and then a patch per change (history carries each
change once); the row keeps the workflow's snapshot, so a patch applies on top of it. A patch
that does not follow on from the row's version is refused, and the workflow sends the whole gate.
Only an agent's own run may publish its gates: the activity refuses a gate of another run (the
gate id starts with the run's workflow id), of an agent that runs in another namespace, or of an
agent other than the one its row already names (a run of another namespace under the same
workflow id), so a workflow anyone starts beside the agents cannot forge or overwrite one.
Text from history is made storable on the way in: a lone surrogate or a NUL (which PostgreSQL
refuses, and which no page can render) becomes U+FFFD.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, close_old_connections, transaction
from django.utils import timezone
from temporalio import activity
from temporalio.converter import AdvancedJSONEncoder, value_to_type
from temporalio.exceptions import ApplicationError

from agents.framework.contract import PUBLISH_ACTIVITY, PUBLISH_CHANGE_ACTIVITY
from agents.framework.gate_changes import GatePatch, GatePublication
from agents.framework.types import BY_FRAMEWORK, GateSnapshot, ToolResult
from reviewer_portal.domains import domain_of
from reviewer_portal.inbox.freshness import bump_roles
from reviewer_portal.inbox.gate_moves import gate_moves
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.presentation import amount_field, flags_of
from reviewer_portal.inbox.signals import gate_changed
from reviewer_portal.notices.gate_events import gate_state_before, notices_for_gate_change
from reviewer_portal.safe_text import storable

FORGED_GATE = "GateNotOfThisRun"


def gate_apply_snapshot(*, snapshot: GateSnapshot) -> bool:
    """Insert or update the projection row if `snapshot` is newer; True if it changed.

    Listeners of `gate_changed` hear about every change once it is committed.
    """
    snapshot, data = storable_snapshot(snapshot)
    fields = _fields(snapshot, data)
    # Only a later version: a gate opened again at its version by a retried task keeps the time it
    # was first seen, so a run whose opening task keeps failing still shows overdue.
    newer = Gate.objects.filter(gate_id=snapshot.gate_id, version__lt=snapshot.version)
    created = False
    with transaction.atomic():
        fields.update(gate_moves(newer.select_for_update(no_key=True), snapshot))
        before = gate_state_before(newer)
        updated = newer.update(**fields)
    if not updated:
        try:
            with transaction.atomic():
                Gate.objects.create(gate_id=snapshot.gate_id, **fields)
            created = True
        except IntegrityError:
            # The row exists: at this version or newer (nothing to do), or an older one raced in.
            if not newer.update(**fields):
                return False
    # Assignments and decisions tell the people concerned (idempotent per event; never raises).
    notices_for_gate_change(before=before, after=snapshot)
    # After the commit, in their own transactions: never hold the gate's lock while waiting on an
    # action's (the portal takes them in the other order).
    transaction.on_commit(lambda: _accept_deciding_action(snapshot.gate_id, snapshot.decision_id))
    transaction.on_commit(lambda: _announce(snapshot.gate_id, created))
    return True


def gate_apply_patch(*, patch: GatePatch) -> bool:
    """Apply `patch` to the row at its base version. True if the row is now at the patch's
    version or newer; False if it cannot follow on (no row, or a change missed): send it whole."""
    with transaction.atomic():
        # FOR NO KEY UPDATE: recording an action (a foreign key to the gate) does not wait on it.
        rows = Gate.objects.select_for_update(no_key=True).filter(gate_id=patch.gate_id)
        row = rows.only("version", "snapshot").first()
        if row is None or not row.snapshot:
            return False
        if row.version >= patch.version:
            return True
        if row.version != patch.base_version:
            return False
        gate_apply_snapshot(snapshot=_patched(row.snapshot, patch))
    return True


def gate_as_patched(gate: Gate, patch: GatePatch) -> bool:
    """Change `gate` in memory (nothing is written) as `patch` will change its row, for a reply
    that need not wait for the write; False, leaving it as it was, if the patch does not follow on
    from it."""
    if gate.version != patch.base_version or not gate.snapshot:
        return False
    snapshot, data = storable_snapshot(_patched(gate.snapshot, patch))
    for name, value in _fields(snapshot, data).items():
        setattr(gate, name, value)
    return True


@activity.defn(name=PUBLISH_CHANGE_ACTIVITY)
def publish_gate_change(publication: GatePublication) -> bool:
    """Activity: a gate's first snapshot or a change to it; False asks for the whole gate."""
    close_old_connections()
    try:
        return apply_publication(publication)
    finally:
        close_old_connections()


def apply_publication(publication: GatePublication) -> bool:
    """`publish_gate_change` on the caller's connection (the activity's checks of who may publish)."""
    if publication.snapshot is not None:
        apply_snapshot(publication.snapshot)
        return True
    if publication.patch is None:
        return False
    agent = Gate.objects.filter(gate_id=publication.patch.gate_id).values_list("agent", flat=True).first()
    _check_publisher(publication.patch.gate_id, agent)
    return gate_apply_patch(patch=publication.patch)


def apply_snapshot(snapshot: GateSnapshot) -> bool:
    """`gate_apply_snapshot` once the calling run may publish the gate; True if the row changed
    (False: it was already at this version or newer)."""
    _check_publisher(snapshot.gate_id, snapshot.agent)
    existing = Gate.objects.filter(gate_id=snapshot.gate_id).values_list("agent", flat=True).first()
    if existing is not None and existing != snapshot.agent:
        # Workflow ids are unique per namespace only: a run of another namespace under the same id
        # names an agent of its own. The row says whose the gate is, and a gate keeps its agent.
        _check_publisher(snapshot.gate_id, existing)
        raise ApplicationError(
            f"Gate {snapshot.gate_id} belongs to agent {existing}, not {snapshot.agent}.",
            type=FORGED_GATE,
            non_retryable=True,
        )
    return gate_apply_snapshot(snapshot=snapshot)


@activity.defn(name=PUBLISH_ACTIVITY)
def publish_gate(snapshot: GateSnapshot) -> bool:
    """Activity: the whole gate, as runs recorded before gate patches publish it."""
    close_old_connections()
    try:
        return apply_snapshot(snapshot)
    finally:
        close_old_connections()


def _check_publisher(gate_id: str, agent: str | None) -> None:
    """Refuse (for good: a retry would be refused too) a gate the calling run may not publish."""
    info = activity.info()
    refusal = publisher_refusal(gate_id, agent, workflow_id=info.workflow_id, namespace=info.namespace)
    if refusal:
        raise ApplicationError(refusal, type=FORGED_GATE, non_retryable=True)


def publisher_refusal(gate_id: str, agent: str | None, *, workflow_id: str, namespace: str) -> str | None:
    """Why run `workflow_id` of `namespace` may not publish gate `gate_id` of `agent`; None if it may
    (its own gate, of an agent of its namespace). The publish activities and reconcile ask it."""
    if not gate_id.startswith(f"{workflow_id}--g"):
        return f"Run {workflow_id} may not publish gate {gate_id} of another run."
    if agent is not None and domain_of(agent).namespace != namespace:
        return f"Agent {agent} runs in namespace {domain_of(agent).namespace}, not {namespace}."
    return None


def _accept_deciding_action(gate_id: str, decision_id: str) -> None:
    """The gate names the action that decided it: that action was accepted, whatever its record
    said (its answer was lost, or it arrived before a withdrawal could take effect). Only an action
    on this gate: a run names no other case's."""
    if decision_id:
        late = ActionAttempt.objects.filter(action_id=decision_id, gate_id=gate_id).exclude(
            status=ActionAttempt.Status.ACCEPTED
        )
        late.update(
            status=ActionAttempt.Status.ACCEPTED, detail="The agent applied it.", updated_at=timezone.now()
        )


def _announce(gate_id: str, created: bool) -> None:
    gate = Gate.objects.filter(gate_id=gate_id).first()
    if gate is not None:
        # Before the push: a browser it prompts to re-read must not be told "nothing changed".
        bump_roles({gate.role, *gate.past_roles, *gate.supervisors})
        gate_changed.send(sender=Gate, gate=gate, created=created)


def _patched(data: dict[str, Any], patch: GatePatch) -> GateSnapshot:
    merged = {**data, **_as_json(patch.changes)}
    merged["annotations"] = [*data.get("annotations", []), *_as_json(patch.annotations)]
    merged["revisions"] = [*data.get("revisions", []), *_as_json(patch.revisions)]
    return value_to_type(GateSnapshot, merged)


def storable_snapshot(snapshot: GateSnapshot) -> tuple[GateSnapshot, dict[str, Any]]:
    """The snapshot with unstorable characters replaced, and as JSON (converted back only when
    something was replaced: the conversion is most of the cost of a projection write)."""
    data = _as_json(snapshot)
    safe = storable(data)
    return (snapshot if safe == data else value_to_type(GateSnapshot, safe)), safe


def gate_fields(snapshot: GateSnapshot) -> dict[str, object]:
    """The columns the projection writes from `snapshot` (the AI Act record checks a gate row
    against the run's own last snapshot with it)."""
    safe, data = storable_snapshot(snapshot)
    return _fields(safe, data)


def _amount(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and abs(amount) < Decimal("1e12") else None


def _as_json(value: object) -> Any:
    return json.loads(json.dumps(value, cls=AdvancedJSONEncoder))


def _fields(s: GateSnapshot, data: dict[str, Any]) -> dict[str, object]:
    evidence = [_evidence(r) for r in s.tool_results]
    return {
        "workflow_id": s.workflow_id,
        "agent": s.agent,
        "kind": s.kind,
        "subject": s.subject,
        "amount": _amount(s.case.get(field)) if (field := amount_field(s.agent)) else None,
        "case": s.case,
        "submitted_by": s.submitted_by,
        "submitted_by_id": s.submitted_by_id,
        "recommendation": s.recommendation.outcome,
        "rationale": s.recommendation.rationale,
        "risk_factors": s.recommendation.risk_factors,
        "tool_results": evidence,
        "flags": flags_of(s.agent, s.case, evidence),
        "model": s.model,
        "offline_model": s.offline_model,
        "needs_attention": s.needs_attention,
        "role": s.role,
        "status": s.status,
        "sla_seconds": s.sla_seconds,
        "opened_at": s.opened_at,
        "deadline": s.deadline,
        "escalation_level": s.escalation_level,
        "decided_by": s.decided_by,
        "decided_by_id": s.decided_by_id,
        "decided_via": s.decided_via,
        "decision_id": s.decision_id,
        "decided_at": s.decided_at,
        "reason": s.reason,
        "version": s.version,
        "prompt_id": s.prompt.id if s.prompt else "",
        "prompt_version": s.prompt.version if s.prompt else None,
        "prompt_sha256": s.prompt.sha256 if s.prompt else "",
        "proposal": s.recommendation.proposal,
        "editable": s.editable,
        "edits": s.edits,
        "edit_diff": s.edit_diff,
        "annotations": [
            {"author": a.author, "author_id": a.author_id, "text": a.text, "at": a.at.isoformat()}
            for a in s.annotations
        ],
        "tool_call": {"name": s.tool_call.name, "arguments": s.tool_call.arguments} if s.tool_call else None,
        "assignee": s.assignee,
        "assignee_id": s.assignee_id,
        "supervisors": s.supervisors,
        "bulk_allowed": s.bulk_allowed,
        "priority": s.priority,
        "claim_required": s.claim_required,
        "revisions": [
            {
                "outcome": r.recommendation.outcome,
                "rationale": r.recommendation.rationale,
                "requested_by": r.requested_by,
                "instructions": r.instructions,
                "at": r.at.isoformat(),
            }
            for r in s.revisions
        ],
        "snapshot": data,
        "updated_at": timezone.now(),
    }


def _evidence(result: ToolResult) -> dict[str, Any]:
    """A tool result as the gate's evidence; a call the framework made (an opening call, not the
    model's) says so, for the AI Act record."""
    evidence = {"name": result.name, "ok": result.ok, "result": result.result, "error": result.error}
    if result.requested_by == BY_FRAMEWORK:
        evidence["requested_by"] = BY_FRAMEWORK
    return evidence

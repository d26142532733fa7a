"""Writes to the gate projection. The workflow's publish activity and the portal's own write
after an accepted Update both go through `gate_apply_snapshot`; the version check makes them
commute, so whichever arrives second and is older changes nothing."""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, close_old_connections, transaction
from django.utils import timezone
from temporalio import activity

from agents.framework.contract import PUBLISH_ACTIVITY
from agents.framework.types import GateSnapshot
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.signals import gate_changed


def gate_apply_snapshot(*, snapshot: GateSnapshot) -> bool:
    """Insert or update the projection row if `snapshot` is newer; True if it changed.

    Listeners of `gate_changed` hear about every change once it is committed.
    """
    fields = _fields(snapshot)
    newer = Gate.objects.filter(gate_id=snapshot.gate_id, version__lt=snapshot.version)
    created = False
    if not newer.update(**fields):
        try:
            with transaction.atomic():
                Gate.objects.create(gate_id=snapshot.gate_id, **fields)
            created = True
        except IntegrityError:
            # The row exists: at this version or newer (nothing to do), or an older one raced in.
            if not newer.update(**fields):
                return False
    transaction.on_commit(lambda: _announce(snapshot.gate_id, created))
    return True


def _announce(gate_id: str, created: bool) -> None:
    gate = Gate.objects.filter(gate_id=gate_id).first()
    if gate is not None:
        gate_changed.send(sender=Gate, gate=gate, created=created)


@activity.defn(name=PUBLISH_ACTIVITY)
def publish_gate(snapshot: GateSnapshot) -> bool:
    """Activity: publish a gate change to the projection (runs on the worker's thread pool)."""
    close_old_connections()
    try:
        return gate_apply_snapshot(snapshot=snapshot)
    finally:
        close_old_connections()


def _fields(s: GateSnapshot) -> dict[str, object]:
    amount = s.case.get("amount")
    return {
        "workflow_id": s.workflow_id,
        "agent": s.agent,
        "kind": s.kind,
        "subject": s.subject,
        "amount": Decimal(str(amount)) if amount is not None else None,
        "case": s.case,
        "submitted_by": s.submitted_by,
        "recommendation": s.recommendation.outcome,
        "rationale": s.recommendation.rationale,
        "risk_factors": s.recommendation.risk_factors,
        "tool_results": [
            {"name": r.name, "ok": r.ok, "result": r.result, "error": r.error} for r in s.tool_results
        ],
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
        "annotations": [{"author": a.author, "text": a.text, "at": a.at.isoformat()} for a in s.annotations],
        "tool_call": {"name": s.tool_call.name, "arguments": s.tool_call.arguments} if s.tool_call else None,
        "assignee": s.assignee,
        "supervisors": s.supervisors,
        "bulk_allowed": s.bulk_allowed,
        "priority": s.priority,
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
        "updated_at": timezone.now(),
    }

"""Writes to the gate projection. The workflow's publish activity and the portal's own write
after an accepted Update both come through here; the version check makes them commute, so
whichever arrives second and is older changes nothing.

The workflow sends a gate whole the first time and then a patch per change (history carries each
change once); the row keeps the workflow's snapshot, so a patch applies on top of it. A patch
that does not follow on from the row's version is refused, and the workflow sends the whole gate.
Who may publish what, the publish activities check (reviewer_portal.inbox.publishing).
Text from history is made storable on the way in: a lone surrogate or a NUL (which PostgreSQL
refuses, and which no page can render) becomes U+FFFD.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from temporalio.converter import AdvancedJSONEncoder, value_to_type

from agents.framework.gate_changes import GatePatch
from agents.framework.types import BY_FRAMEWORK, GateSnapshot, ToolResult
from reviewer_portal.inbox.freshness import bump_roles
from reviewer_portal.inbox.gate_moves import gate_moves
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.presentation import amount_field, flags_of
from reviewer_portal.inbox.row_guards import (
    decided_otherwise,
    decides_otherwise,
    open_or_same_decision,
    other_content,
)
from reviewer_portal.inbox.signals import gate_changed
from reviewer_portal.notices.gate_events import gate_state_before, notices_for_gate_change
from reviewer_portal.safe_text import storable


def gate_apply_snapshot(
    *,
    snapshot: GateSnapshot,
    chain: str = "",
    run: str = "",
    content: str | None = None,
    set_back_from: str | None = None,
) -> bool:
    """Insert or update the projection row if `snapshot` is newer; True if it changed. From a
    run's publication, `chain` is the run's chain: a row of another chain is not changed, and
    `content` the run's digest of the gate (agents.framework.gate_content; "" from runs recorded
    before it; None, from the portal's own writes, keeps the row's).
    `set_back_from`: the run was set back (reset) and holds another gate at the row's version or an
    earlier one (reviewer_portal.inbox.set_back): the row takes it whatever its version, if it is
    still undecided and holds the gate of that digest ("": of none).
    A decided row takes only the same decision again: a run set back to before it (a reset) opens
    it again in the run, never here (reviewer_portal.inbox.set_back says so in the log).

    Listeners of `gate_changed` hear about every change once it is committed.
    """
    snapshot, data = storable_snapshot(snapshot)
    fields = _fields(snapshot, data)
    # Only a later version: a gate opened again at its version by a retried task keeps the time it
    # was first seen, so a run whose opening task keeps failing still shows overdue.
    newer = Gate.objects.filter(gate_id=snapshot.gate_id, version__lt=snapshot.version)
    if set_back_from is not None:
        newer = Gate.objects.filter(gate_id=snapshot.gate_id, content_digest=set_back_from)
    newer = newer.filter(open_or_same_decision(snapshot))
    if content is not None:
        fields["content_digest"] = content
    if chain:
        newer = newer.filter(chain_id__in=("", chain))
        fields["chain_id"] = chain
    if run:
        fields["run_id"] = run
    created = False
    with transaction.atomic():
        fields.update(gate_moves(newer.select_for_update(no_key=True), snapshot))
        before = gate_state_before(newer)
        updated = newer.update(**fields)
    if not updated and set_back_from is not None:
        return False
    if not updated:
        try:
            with transaction.atomic():
                Gate.objects.create(gate_id=snapshot.gate_id, **fields)
            created = True
        except IntegrityError:
            # The row exists: at this version or newer (nothing to do), or an older one raced in, or
            # it keeps a decision the run does not (logged).
            if not newer.update(**fields):
                decided_otherwise(snapshot)
                return False
    # Assignments and decisions tell the people concerned (idempotent per event; never raises).
    notices_for_gate_change(before=before, after=snapshot)
    # After the commit, in their own transactions: never hold the gate's lock while waiting on an
    # action's (the portal takes them in the other order).
    transaction.on_commit(lambda: _accept_deciding_action(snapshot.gate_id, snapshot.decision_id))
    transaction.on_commit(lambda: _announce(snapshot.gate_id, created))
    return True


def gate_apply_patch(
    *, patch: GatePatch, chain: str = "", run: str = "", content: str | None = None, base_content: str = ""
) -> bool:
    """Apply `patch` to the row at its base version, holding the content it follows on from
    (`base_content`, the run's digest; `content`: of the gate after it, as for gate_apply_snapshot).
    True if the row is now at the patch's version or newer, with that content; False if it cannot
    follow on (no row, a change missed, or other content at that version: a run set back): send it
    whole."""
    with transaction.atomic():
        # FOR NO KEY UPDATE: recording an action (a foreign key to the gate) does not wait on it.
        rows = Gate.objects.select_for_update(no_key=True).filter(gate_id=patch.gate_id)
        row = rows.only("version", "snapshot", "content_digest", "status").first()
        if row is None or not row.snapshot:
            return False
        if row.version >= patch.version:
            # In sync, unless the run holds other content, or decides a decided row otherwise:
            # then the whole gate, which row_guards logs.
            return not other_content(row.content_digest, content or "") and not decides_otherwise(row, patch)
        if row.version != patch.base_version or other_content(row.content_digest, base_content):
            return False
        if base_content and not row.content_digest:
            return False  # a row no run digested (from before, or rebuilt): it cannot tell, so whole
        return gate_apply_snapshot(
            snapshot=_patched(row.snapshot, patch), chain=chain, run=run, content=content
        )


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

"""Writes the portal makes on a reviewer's behalf: each action becomes a signed Temporal Update,
recorded first and delivered through reviewer_portal.inbox.delivery."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from agents.framework.contract import ALL_GATES_QUERY, ANNOTATE, ASSIGN, DECIDE, PORTAL
from agents.framework.types import GateSnapshot
from reviewer_portal.accounts.roles import reviewer_roles_of
from reviewer_portal.inbox.delivery import ActionConflict, action_deliver, action_record
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.permissions import is_person
from reviewer_portal.inbox.presentation import flags_of
from reviewer_portal.inbox.projection import gate_apply_snapshot
from reviewer_portal.inbox.selectors import gate_bulk_eligible_for, gate_visible_to
from reviewer_portal.request_threads import async_to_sync_aside
from reviewer_portal.team.absences import absent_claim_refusal
from reviewer_portal.temporal_client import TemporalUnreachable, client_for_agent

log = logging.getLogger(__name__)
Status = ActionAttempt.Status


def gate_decide(
    *,
    gate: Gate,
    reviewer: AbstractBaseUser,
    decision: str,
    reason: str,
    submission_id: str,
    revision: int,
    edits: dict[str, str] | None = None,
    origin: str = PORTAL,
) -> ActionAttempt:
    """Record the decision, then deliver it; a double submit gets the first answer back.

    `revision` says which recommendation the reviewer decided on (how many revisions came
    before it); the run refuses the decision if the agent has revised it since.

    Raises PermissionError (another reviewer's form) or ActionConflict (the form reused with other
    content, or a decision of the reviewer's on this gate is still waiting to be delivered).
    """
    attempt = action_record(
        gate=gate,
        reviewer=reviewer,
        action=DECIDE,
        submission_id=submission_id,
        origin=origin,
        decision=decision,
        reason=reason,
        edits=edits,
        revision=revision,
    )
    return action_deliver(attempt=attempt)


def gate_annotate(
    *, gate: Gate, reviewer: AbstractBaseUser, text: str, submission_id: str, origin: str = PORTAL
) -> ActionAttempt:
    """Record a note on a gate and send it as the `annotate` Update; the run keeps it in history."""
    attempt = action_record(
        gate=gate, reviewer=reviewer, action=ANNOTATE, submission_id=submission_id, origin=origin, text=text
    )
    return action_deliver(attempt=attempt)


def gate_assign(
    *,
    gate: Gate,
    reviewer: AbstractBaseUser,
    assignee: AbstractBaseUser | None,
    submission_id: str,
    origin: str = PORTAL,
    reason: str = "",
) -> ActionAttempt:
    """Claim (assignee is the reviewer), unclaim (None) or assign a gate through the `assign`
    Update; the workflow decides who may, so two reviewers claiming at once get one winner."""
    attempt = action_record(
        gate=gate,
        reviewer=reviewer,
        action=ASSIGN,
        submission_id=submission_id,
        origin=origin,
        assignee=assignee,
        reason=reason,
    )
    attempt = action_deliver(attempt=attempt)
    if attempt.status == Status.REFUSED:
        # The reviewer's view of the gate was stale (someone else claimed it first): catch the
        # projection up with the workflow's own view.
        current = _current_snapshot(gate)
        if current is not None:
            gate_apply_snapshot(snapshot=current)
    return attempt


def assignment_message(attempt: ActionAttempt) -> str:
    """What a claim, release or assignment did, in words."""
    if attempt.assignee_id is None:
        return "Gate released: anyone in the queue may claim it."
    if attempt.assignee_id == attempt.reviewer_id:
        return "You claimed this gate."
    assignee = attempt.assignee
    assert assignee is not None  # assignee_id is set
    return f"Gate assigned to {assignee.get_username()}."


CHANGED_SINCE_SHOWN = "Changed since the inbox showed it: open it, or reload the inbox, to decide it."


class BulkOutcome(NamedTuple):
    """One selected gate in a bulk decision: the attempt sent, or why the portal sent nothing."""

    gate_id: str
    gate: Gate | None  # None when the id is unknown or not the reviewer's to see
    attempt: ActionAttempt | None  # None when the portal refused before sending anything
    refusal: str = ""


def gates_decide_in_bulk(
    *,
    user: AbstractBaseUser,
    gate_ids: list[str],
    decision: str,
    reason: str,
    submission_id: str,
    shown: dict[str, int] | None = None,
) -> list[BulkOutcome]:
    """Decide each selected gate with `gate_decide`: one Update per gate, each with its own ID.

    Every id is checked again first (pending, the user's role, eligible for bulk, and no flag of
    its agent's: a flagged gate is a question for a reviewer's own look at it); any other is
    refused here, without a call to its workflow, and so is one that changed since the inbox
    showed it (`shown`: the version of each gate as the reviewer saw it; a recommendation revised
    since was never seen). The workflow still has the last word on the rest (four eyes, claims,
    expiry), and its refusal comes back in the gate's attempt.
    """
    shown = shown or {}
    ids = list(dict.fromkeys(gate_ids))
    eligible = gate_bulk_eligible_for(user=user).in_bulk(ids)
    visible = gate_visible_to(user=user).in_bulk([i for i in ids if i not in eligible])
    outcomes = []
    for gate_id in ids:
        gate = eligible.get(gate_id)
        refusal = _bulk_refusal(visible.get(gate_id), user) if gate is None else _flagged(gate)
        if gate is not None and not refusal and shown.get(gate_id, gate.version) != gate.version:
            refusal = CHANGED_SINCE_SHOWN
        if refusal or gate is None:
            log.warning("bulk %s of %s by %s refused: %s", decision, gate_id, user.get_username(), refusal)
            outcomes.append(BulkOutcome(gate_id, gate or visible.get(gate_id), None, refusal))
            continue
        # Derived, not random: resubmitting the same form reuses each gate's action id.
        gate_submission_id = str(uuid.uuid5(uuid.UUID(submission_id), gate_id))
        if gate.claim_required and not gate.assignee:
            # Its policy lets only the holder decide: selecting an unclaimed gate claims it (held
            # by a colleague, it was refused above; a claim someone wins first, the run refuses),
            # unless the reviewer is marked absent, as the claim button says.
            if away := absent_claim_refusal(user):
                outcomes.append(BulkOutcome(gate_id, gate, None, away))
                continue
            claim_id = str(uuid.uuid5(uuid.UUID(submission_id), f"claim:{gate_id}"))
            claim = gate_assign(gate=gate, reviewer=user, assignee=user, submission_id=claim_id)
            if claim.status != Status.ACCEPTED:
                outcomes.append(BulkOutcome(gate_id, gate, claim))
                continue
        try:
            attempt = gate_decide(
                gate=gate,
                reviewer=user,
                decision=decision,
                reason=reason,
                submission_id=gate_submission_id,
                revision=len(gate.revisions),  # the recommendation listed in the inbox
            )
        except (PermissionError, ActionConflict) as err:
            outcomes.append(BulkOutcome(gate_id, gate, None, str(err)))
        else:
            outcomes.append(BulkOutcome(gate_id, gate, attempt))
    return outcomes


def _flagged(gate: Gate) -> str:
    """Why an eligible gate is still refused: its agent flags it (a question for a reviewer's own
    look at it), or "" if not."""
    flags = flags_of(gate.agent, gate.case, gate.tool_results)
    return f"Flagged ({flags[0]}): decide it on its own page." if flags else ""


def _bulk_refusal(gate: Gate | None, user: AbstractBaseUser) -> str:
    if gate is None:
        return "No such gate in your queues."
    if gate.status != Gate.Status.PENDING:
        decided = f" by {gate.decided_by}" if gate.decided_by else ""
        return f"No longer pending ({gate.status.replace('_', ' ')}{decided})."
    if gate.role not in reviewer_roles_of(user):
        return f"Only a reviewer with the role '{gate.role_label}' may decide this gate."
    if gate.assignee and not is_person(user, gate.assignee, gate.assignee_id):
        return f"Held by {gate.assignee}: only they decide it (a supervisor reassigns it on the team page)."
    if gate.flags:
        return f"Flagged ({gate.flags[0]}): decide it on its own page."
    return "Not eligible for a bulk decision (risk factors, a warning or its policy): open it to decide."


def _current_snapshot(gate: Gate) -> GateSnapshot | None:
    """The workflow's own view of the gate, or None if it cannot answer right now."""

    async def query() -> list[GateSnapshot]:
        handle = (await client_for_agent(gate.agent)).get_workflow_handle(gate.workflow_id)
        timeout = timedelta(seconds=settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS)
        snapshots: list[GateSnapshot] = await handle.query(
            ALL_GATES_QUERY, result_type=list[GateSnapshot], rpc_timeout=timeout
        )
        return snapshots

    try:
        snapshots = async_to_sync_aside(query)()
    except (RPCError, WorkflowQueryFailedError, TemporalUnreachable):
        return None  # the workflow's publish activity catches the projection up later
    return next((s for s in snapshots if s.gate_id == gate.gate_id), None)

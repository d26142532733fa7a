"""Bulk decisions from the inbox: one decision, with one reason, for several low-risk gates, each
delivered as `gate_decide` would deliver it (reviewer_portal.inbox.services)."""

from __future__ import annotations

import logging
import uuid
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser

from agents.framework.contract import DECIDE
from reviewer_portal.accounts.roles import reviewer_roles_of
from reviewer_portal.inbox.bulk import changed_since_listed
from reviewer_portal.inbox.delivery import (
    ActionConflict,
    action_answer,
    action_record,
    actions_deliver_together,
)
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.outcomes import outcome_text
from reviewer_portal.inbox.permissions import is_person
from reviewer_portal.inbox.presentation import flags_of
from reviewer_portal.inbox.selectors import gate_bulk_eligible_for, gate_visible_to
from reviewer_portal.inbox.sending import Answer
from reviewer_portal.inbox.services import Assignment, gates_assign_together
from reviewer_portal.team.absences import absent_claim_refusal

log = logging.getLogger(__name__)
Status = ActionAttempt.Status

CHANGED_SINCE_SHOWN = "Changed since the inbox showed it: open it, or reload the inbox, to decide it."


class BulkOutcome(NamedTuple):
    """One selected gate in a bulk decision: the attempt sent, or why the portal sent nothing."""

    gate_id: str
    gate: Gate | None  # None when the id is unknown or not the reviewer's to see
    attempt: ActionAttempt | None  # None when the portal refused before sending anything
    refusal: str = ""

    @property
    def text(self) -> str:
        """What became of the attempt, in words ("" when the portal refused it)."""
        return outcome_text(self.attempt) if self.attempt else ""


def gates_decide_in_bulk(
    *,
    user: AbstractBaseUser,
    gate_ids: list[str],
    decision: str,
    reason: str,
    submission_id: str,
    shown: dict[str, str] | None = None,
) -> list[BulkOutcome]:
    """Decide each selected gate as `gate_decide` would: one Update per gate, each with its own ID.

    Every id is checked again first (pending, the user's role, eligible for bulk, and no flag of
    its agent's: a flagged gate is a question for a reviewer's own look at it); any other is
    refused here, without a call to its workflow, and so is one that changed since the inbox
    showed it (`shown`: what each gate's row sent, its version and the first digits of the run's
    digest of its content; a recommendation revised since, or answered again by a run set back,
    was never seen). The workflow still has the last word on the rest (four eyes, claims,
    expiry), and its refusal comes back in the gate's attempt.

    The Updates go out in two rounds, each sent at once: the claims a claim-first gate needs, then
    the decisions. So a worker that is down costs the reviewer a timeout a round, not one a gate;
    a decision whose claim is queued is recorded and queued behind it (the delivery loop sends a
    gate's actions in the order they were made).
    """
    shown = shown or {}
    ids = list(dict.fromkeys(gate_ids))
    eligible = gate_bulk_eligible_for(user=user).in_bulk(ids)
    visible = gate_visible_to(user=user).in_bulk([i for i in ids if i not in eligible])
    outcomes: dict[str, BulkOutcome] = {}
    ready: list[Gate] = []
    for gate_id in ids:
        gate = eligible.get(gate_id)
        refusal = _bulk_refusal(visible.get(gate_id), user) if gate is None else _flagged(gate)
        listed = shown.get(gate_id)
        if (
            gate is not None
            and not refusal
            and listed
            and changed_since_listed(listed, gate.version, gate.content_digest)
        ):
            refusal = CHANGED_SINCE_SHOWN
        if gate is not None and not refusal and _needs_claim(gate):
            # Selecting an unclaimed gate claims it, unless the reviewer is marked absent, as the
            # claim button says.
            refusal = absent_claim_refusal(user)
        if refusal or gate is None:
            log.warning("bulk %s of %s by %s refused: %s", decision, gate_id, user.get_username(), refusal)
            outcomes[gate_id] = BulkOutcome(gate_id, gate or visible.get(gate_id), None, refusal)
        else:
            ready.append(gate)
    claims = _bulk_claims(ready, user, submission_id)
    deciding = []
    for gate in ready:
        claim = claims.get(gate.gate_id)
        if isinstance(claim, str):
            outcomes[gate.gate_id] = BulkOutcome(gate.gate_id, gate, None, claim)
            continue
        if claim is not None and claim.status not in (Status.ACCEPTED, Status.UNDELIVERED):
            outcomes[gate.gate_id] = BulkOutcome(gate.gate_id, gate, claim)
            continue
        try:
            attempt = action_record(
                gate=gate,
                reviewer=user,
                action=DECIDE,
                # Derived, not random: resubmitting the same form reuses each gate's action id.
                submission_id=str(uuid.uuid5(uuid.UUID(submission_id), gate.gate_id)),
                decision=decision,
                reason=reason,
                revision=len(gate.revisions),  # the recommendation listed in the inbox
                bulk=True,
            )
        except (PermissionError, ActionConflict) as err:
            outcomes[gate.gate_id] = BulkOutcome(gate.gate_id, gate, None, str(err))
            continue
        if claim is not None and claim.status != Status.ACCEPTED:
            attempt = action_answer(attempt, Answer(Status.UNDELIVERED, f"{BEHIND_CLAIM} {claim.detail}"))
            outcomes[gate.gate_id] = BulkOutcome(gate.gate_id, gate, attempt)
        else:
            deciding.append(attempt)
    for attempt in actions_deliver_together(deciding):
        outcomes[attempt.gate_id] = BulkOutcome(attempt.gate_id, attempt.gate, attempt)
    return [outcomes[gate_id] for gate_id in ids]


BEHIND_CLAIM = "It is sent once your claim of the gate reaches the agent."


def _needs_claim(gate: Gate) -> bool:
    """Its policy lets only the holder decide, and nobody holds it (held by a colleague, it was
    refused before this; a claim someone wins first, the run refuses)."""
    return gate.claim_required and not gate.assignee


def _bulk_claims(
    gates: list[Gate], user: AbstractBaseUser, submission_id: str
) -> dict[str, ActionAttempt | str]:
    """The claims a bulk decision makes first, sent at once, by gate id (or why one could not be
    recorded)."""
    claiming = [
        Assignment(gate, user, str(uuid.uuid5(uuid.UUID(submission_id), f"claim:{gate.gate_id}")))
        for gate in gates
        if _needs_claim(gate)
    ]
    claims = gates_assign_together(reviewer=user, assignments=claiming)
    return {assignment.gate.gate_id: claim for assignment, claim in zip(claiming, claims, strict=True)}


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

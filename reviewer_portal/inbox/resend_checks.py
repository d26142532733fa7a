"""The portal's own checks made again when a queued action is finally sent.

A decision is sent the moment it is made; while Temporal or the agents' worker is down it is kept
and sent later by the delivery loop (reviewer_portal.inbox.redelivery). The run checks what it can
when it arrives: the recommendation's revision, who holds the gate, the role, four eyes. It cannot
know what the portal showed the reviewer. So each decision keeps what its reviewer saw of the
gate (reviewer_portal.inbox.seen), and is not sent once a part has changed: a colleague's note,
new evidence, a move to another queue. A decision made in bulk also counted on the gate's flags
and its eligibility for a bulk decision, which a release of the agent's rules can change; one
made on the gate's own page was the reviewer's own look, which a flag asks for.

Absences: marking someone absent released what they held, so a queued claim or assignment is not
sent to them, nor their decision on a gate they do not hold (the run would refuse it, in words an
absent reviewer cannot act on).

What "not sent" means is delivery's (`_held_back`): refused, or, when a copy sent before could
still reach the run, held until that is settled, as the record of what the run did.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from agents.framework.contract import ASSIGN, DECIDE, OPERATOR
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.permissions import is_person
from reviewer_portal.inbox.run_queries import gate_catch_up
from reviewer_portal.inbox.seen import BULK_PARTS, changed_parts, seen_of
from reviewer_portal.team.absences import absence_of


def resend_refusal(attempt: ActionAttempt) -> str:
    """Why the portal stops sending this queued action, "" if it goes on: checked against the gate
    and the absences as they are now, read just before the send (a delivery pass may have read
    the gate long before, while sending the claim ahead of a decision), the gate as the run holds
    it (the projection can lag the run: a colleague's note applied, its publish still pending).
    Raises RunOutOfReach when the run cannot be asked: the action waits for a later pass."""
    if attempt.action == ASSIGN and attempt.assignee is not None:
        return _absent_assignee(attempt, attempt.assignee)
    seen = attempt.seen
    if attempt.action != DECIDE or not seen:
        return ""  # recorded before these checks: the run's own checks alone, as then
    gate_catch_up(attempt.gate)  # the projection can lag the run; RunOutOfReach: not sent now
    gate = Gate.objects.get(pk=attempt.gate_id)
    now = seen_of(gate, reviewer_id=attempt.reviewer_id, bulk=any(part in seen for part in BULK_PARTS))
    if changed := changed_parts(seen, now):
        return (
            f"The gate changed since you decided ({', '.join(changed)}), so the portal stopped sending "
            "your decision: open the gate to see what changed, and decide again."
        )
    if (
        attempt.origin == OPERATOR
        or not gate.claim_required
        or is_person(attempt.reviewer, gate.assignee, gate.assignee_id)
    ):
        return ""  # an operator's override needs no claim; a holder's decision stands
    away = absence_of(attempt.reviewer)
    if away:
        return (
            f"You are marked absent (since {away.since:%Y-%m-%d %H:%M} UTC) and do not hold this gate, so the "
            "portal stopped sending your decision: a colleague in the queue decides it."
        )
    return ""


def _absent_assignee(attempt: ActionAttempt, assignee: AbstractBaseUser) -> str:
    """A claim or assignment is not sent to someone marked absent since: marking them absent
    released what they held, and the team view offers only those present."""
    away = absence_of(assignee)
    if away is None:
        return ""
    since = f"since {away.since:%Y-%m-%d %H:%M} UTC, by {away.marked_by.get_username()}"
    if attempt.assignee_id == attempt.reviewer_id:
        return (
            f"You are marked absent ({since}), so the portal stopped sending your claim: ask a supervisor "
            "to mark you present before you claim gates."
        )
    return (
        f"{assignee.get_username()} is marked absent ({since}), so the portal stopped sending this "
        "assignment: assign the gate to someone present."
    )

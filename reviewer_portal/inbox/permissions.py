"""What a user may do on a gate, read once from their roles: what the gate page offers and what
its views accept. The workflow has the final word on every action (four eyes, holds, SLAs)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser

from reviewer_portal.accounts.roles import ADMIN_ROLE, reviewer_roles_of
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.presentation import workspace_of


@dataclass(frozen=True)
class GatePermissions:
    """What the user may do on a gate, from one reading of their roles."""

    decide: bool  # a pending gate of one of the user's roles
    annotate: bool  # notes: any reviewer of the gate's role, pending or not
    assign: bool  # claim / release / assign controls: the gate's role or a supervising role
    claim: bool  # claim it for oneself: the gate's role, and not its submitter
    supervises: bool  # a supervising role (reassign to others)
    holds: bool  # the user holds the gate
    held_by_other: bool  # someone else holds it: only they decide it
    take_over: bool  # its agent says it is answered elsewhere (AgentSpec.workspaces): go there
    claim_first: bool  # its policy lets only the holder decide, and nobody holds it yet
    moved_on: bool  # it left the user's roles (escalated, held): read-only for them
    own_case: bool  # the user submitted it: four eyes, someone else decides it


def gate_permissions_for(*, user: AbstractBaseUser, gate: Gate) -> GatePermissions:
    roles = reviewer_roles_of(user)
    pending = gate.status == Gate.Status.PENDING
    of_role = gate.role in roles
    supervises = bool(roles & set(gate.supervisors))
    holds = bool(gate.assignee) and is_person(user, gate.assignee, gate.assignee_id)
    # A gate answered elsewhere takes none of the panel's actions: its workflow has no Update for them.
    here = workspace_of(gate.agent, gate.kind, gate.workflow_id) is None
    submitter = is_person(user, gate.submitted_by, gate.submitted_by_id)
    return GatePermissions(
        decide=here and pending and of_role and not submitter,
        annotate=here and of_role,
        assign=here and pending and (of_role or supervises),
        claim=here and of_role and not submitter,
        supervises=here and supervises,
        holds=holds,
        held_by_other=bool(gate.assignee) and not holds,
        take_over=not here and pending and (of_role or ADMIN_ROLE in roles),
        claim_first=gate.claim_required and pending and not gate.assignee,
        moved_on=not of_role and bool(roles & set(gate.past_roles)),
        own_case=here and pending and of_role and submitter,
    )


def is_person(user: AbstractBaseUser, username: str, user_id: str) -> bool:
    """Whether `user` is the person a gate names: by immutable id, by name on older gates."""
    return str(user.pk) == user_id if user_id else bool(username) and user.get_username() == username

"""Channel-layer group names for gate changes, built from who is connected or what changed.

A reviewer's browser joins one group per reviewer role it holds; auditors and superusers, who may
open every gate, join the one group that hears about all of them.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from agents.framework.registry import AGENTS
from reviewer_portal.accounts.roles import can_audit, reviewer_roles_of
from reviewer_portal.inbox.models import Gate

ALL_GATES = "gates.all"


def role_group(role: str) -> str:
    return f"gates.role.{role}"


def user_group(user_id: object) -> str:
    """One user's own pages: told when their notifications change (reviewer_portal.notices)."""
    return f"notices.user.{user_id}"


def groups_of(user: AbstractBaseUser | AnonymousUser) -> list[str]:
    """The groups a connected user's browser joins (queries the user's roles)."""
    if can_audit(user):
        return [ALL_GATES]
    return sorted(role_group(role) for role in reviewer_roles_of(user))


def groups_concerned(gate: Gate) -> list[str]:
    """Every group whose pages may show this gate: its role, the roles that supervise it, and,
    once escalated, the roles it moved through (their inboxes must drop it), plus ALL_GATES."""
    roles = {gate.role, *gate.supervisors}
    if gate.escalation_level:
        roles |= _escalation_roles(gate)
    return [ALL_GATES, *sorted(role_group(role) for role in roles)]


def _escalation_roles(gate: Gate) -> set[str]:
    spec = AGENTS.get(gate.agent)
    policies = [p for p in (spec.gate, spec.approval_gate) if p and p.kind == gate.kind] if spec else []
    return {p.role for p in policies} | {step.role for p in policies for step in p.escalations}

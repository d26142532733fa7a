"""A reviewer's own cases: gates of their roles on runs they submitted. Four eyes means someone
else decides them, so they leave the reviewer's queue for an "Awaiting others" list that says who
can decide them, and says so plainly when nobody else can."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, User
from django.db.models import Q

from reviewer_portal.accounts.roles import ADMIN_ROLE, reviewer_roles_of
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.permissions import is_person

# The inbox shows this many; "My submissions" lists them all.
AWAITING_LIMIT = 20


def own_case(user: AbstractBaseUser) -> Q:
    """Gates the user submitted: by immutable id, by name on gates recorded before ids were."""
    return Q(submitted_by_id=str(user.pk)) | Q(submitted_by_id="", submitted_by=user.get_username())


@dataclass(frozen=True)
class OwnCase:
    gate: Gate
    role_label: str
    others: int  # active holders of the gate's role other than the submitter

    @property
    def waiting_for(self) -> str:
        if self.gate.assignee:
            return f"Held by {self.gate.assignee}, another {self.role_label}"
        if self.others:
            return f"Waiting for another {self.role_label}"
        return f"No other {self.role_label} can decide this: ask your admin"


def own_cases_for(*, user: AbstractBaseUser, limit: int = AWAITING_LIMIT) -> list[OwnCase]:
    """The user's own pending cases in their roles' queues, most urgent first."""
    gates = Gate.objects.filter(own_case(user), status=Gate.Status.PENDING, role__in=reviewer_roles_of(user))
    gates = gates.only("gate_id", "subject", "role", "deadline", "sla_seconds", "assignee").order_by(
        "deadline", "gate_id"
    )
    others: dict[str, int] = {}
    cases = []
    for gate in gates[:limit]:
        if gate.role not in others:
            others[gate.role] = other_deciders(role=gate.role, user=user)
        cases.append(OwnCase(gate, gate.role_label, others[gate.role]))
    return cases


def other_deciders(*, role: str, user: AbstractBaseUser) -> int:
    """How many active users besides `user` hold `role` (admins: superusers)."""
    holders = (
        User.objects.filter(is_superuser=True)
        if role == ADMIN_ROLE
        else User.objects.filter(groups__name=role)
    )
    return holders.filter(is_active=True).exclude(pk=user.pk).distinct().count()


def own_case_of(*, user: AbstractBaseUser, gate: Gate) -> OwnCase | None:
    """The gate as the user's own case, if they submitted it (for the gate page's note)."""
    if not is_person(user, gate.submitted_by, gate.submitted_by_id):
        return None
    return OwnCase(gate, gate.role_label, other_deciders(role=gate.role, user=user))

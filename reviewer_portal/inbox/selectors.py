"""Reads of the gate projection, always scoped to what the user may see."""

from __future__ import annotations

import json

from django.contrib.auth.models import AbstractBaseUser, User
from django.db.models import Q, QuerySet
from django.http import Http404

from reviewer_portal.accounts.roles import ADMIN_ROLE, can_audit, reviewer_roles_of
from reviewer_portal.inbox.models import DecisionAttempt, Gate


def gate_list_for(*, user: AbstractBaseUser) -> QuerySet[Gate]:
    """Pending gates the user's roles may decide, most urgent first."""
    return Gate.objects.filter(status=Gate.Status.PENDING, role__in=reviewer_roles_of(user)).order_by(
        "deadline"
    )


def gate_visible_to(*, user: AbstractBaseUser) -> QuerySet[Gate]:
    """Every gate the user may open: their roles' gates (any status), or all for auditors."""
    if can_audit(user):
        return Gate.objects.all()
    roles = reviewer_roles_of(user)
    # A reviewer also keeps sight of gates they decided after the gate moved to another role.
    return (
        Gate.objects.filter(role__in=roles)
        | Gate.objects.filter(decided_by=user.get_username())
        | _supervised_by(roles)
    )


def gate_get_for(*, user: AbstractBaseUser, gate_id: str) -> Gate:
    """The gate, or 404 when it does not exist or the user may not see it (no difference shown)."""
    gate = gate_visible_to(user=user).filter(gate_id=gate_id).first()
    if gate is None:
        raise Http404("No such gate.")
    return gate


def gate_may_decide(*, user: AbstractBaseUser, gate: Gate) -> bool:
    return gate.status == Gate.Status.PENDING and gate.role in reviewer_roles_of(user)


def gate_may_annotate(*, user: AbstractBaseUser, gate: Gate) -> bool:
    return gate.role in reviewer_roles_of(user)


def decision_attempts_for(*, gate: Gate) -> QuerySet[DecisionAttempt]:
    return gate.attempts.select_related("reviewer")


def _supervised_by(roles: set[str]) -> QuerySet[Gate]:
    """Gates these roles may reassign (e.g. a senior credit officer covering an absence)."""
    # `supervisors` is a JSON list; matching a quoted element works on SQLite and PostgreSQL alike.
    matches = Q()
    for role in roles:
        matches |= Q(supervisors__icontains=json.dumps(role))
    return Gate.objects.filter(matches) if matches else Gate.objects.none()


def gate_may_assign(*, user: AbstractBaseUser, gate: Gate) -> bool:
    """Whether to offer claim / assign controls; the workflow has the final word."""
    roles = reviewer_roles_of(user)
    return gate.status == Gate.Status.PENDING and (gate.role in roles or bool(roles & set(gate.supervisors)))


def gate_is_supervised_by(*, user: AbstractBaseUser, gate: Gate) -> bool:
    return bool(reviewer_roles_of(user) & set(gate.supervisors))


def gate_assignees_for(*, gate: Gate) -> QuerySet[User]:
    """Colleagues a gate may go to: active holders of its role, never its submitter (four eyes)."""
    holders = (
        User.objects.filter(is_superuser=True)
        if gate.role == ADMIN_ROLE
        else User.objects.filter(groups__name=gate.role)
    )
    return (
        holders.filter(is_active=True)
        .exclude(username__in=[gate.submitted_by, gate.assignee])
        .order_by("username")
        .distinct()
    )


def gate_neighbours_for(*, user: AbstractBaseUser, gate: Gate) -> tuple[Gate | None, Gate | None]:
    """The gates before and after this one in the user's queue (by deadline), for n / p."""
    queue = gate_list_for(user=user).exclude(gate_id=gate.gate_id)
    later = Q(deadline__gt=gate.deadline) | Q(deadline=gate.deadline, gate_id__gt=gate.gate_id)
    earlier = Q(deadline__lt=gate.deadline) | Q(deadline=gate.deadline, gate_id__lt=gate.gate_id)
    following = queue.filter(later).order_by("deadline", "gate_id").first()
    preceding = queue.filter(earlier).order_by("-deadline", "-gate_id").first()
    return preceding, following

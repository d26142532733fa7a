"""Reads of the gate projection, always scoped to what the user may see."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import Http404

from reviewer_portal.accounts.roles import can_audit, reviewer_roles_of
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
    return Gate.objects.filter(role__in=roles) | Gate.objects.filter(decided_by=user.get_username())


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

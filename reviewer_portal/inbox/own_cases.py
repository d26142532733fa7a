"""A reviewer's own cases: gates of their roles on runs they submitted. Four eyes means someone
else decides them, so they leave the reviewer's queue for an "Awaiting others" list that says who
can decide them, and says so plainly when nobody else can.

Which pending gates are the user's own is read from their submissions (an indexed lookup), not by
scanning every pending gate's submitter: the inbox's lists and counts stay on their indexes."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, User
from django.db.models import Q

from reviewer_portal.accounts.roles import ADMIN_ROLE, reviewer_roles_of
from reviewer_portal.history.models import Submission
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.permissions import is_person

# The inbox shows this many; "My submissions" lists them all.
AWAITING_LIMIT = 20


def own_case(user: AbstractBaseUser) -> Q:
    """Gates the user submitted: by immutable id, by name on gates recorded before ids were."""
    return Q(submitted_by_id=str(user.pk)) | Q(submitted_by_id="", submitted_by=user.get_username())


@dataclass(frozen=True)
class OwnPending:
    gate_id: str
    role: str
    assignee_id: str


def own_pending(user: AbstractBaseUser) -> list[OwnPending]:
    """The user's own pending gates in any role (read once per request, cached on the user)."""
    cached: list[OwnPending] | None = getattr(user, "_own_pending", None)
    if cached is None:
        runs = Submission.objects.filter(submitted_by_id=user.pk).values("workflow_id")
        gates = Gate.objects.filter(workflow_id__in=runs, status=Gate.Status.PENDING).order_by()
        cached = [OwnPending(*row) for row in gates.values_list("gate_id", "role", "assignee_id")]
        user._own_pending = cached  # type: ignore[union-attr]
    return cached


def own_pending_ids(user: AbstractBaseUser) -> list[str]:
    return [case.gate_id for case in own_pending(user)]


def without_own_cases(counts: dict[str, int], *, user: AbstractBaseUser, roles: list[str]) -> dict[str, int]:
    """Queue counts (reviewer_portal.inbox.selectors.inbox_queues_for) less the user's own cases."""
    for case in own_pending(user):
        if case.role in roles:
            counts["all_queues"] -= 1
            counts[f"role_{case.role}"] -= 1
            counts["assigned_to_me"] -= case.assignee_id == str(user.pk)
    return counts


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


def own_cases_for(
    *, user: AbstractBaseUser, limit: int = AWAITING_LIMIT, pending: list[OwnPending] | None = None
) -> list[OwnCase]:
    """The user's own pending cases in their roles' queues, most urgent first; from `pending`
    when the caller kept what `own_pending` read (the inbox keeps it until the projection changes)."""
    ids = [case.gate_id for case in (own_pending(user) if pending is None else pending)]
    if not ids:
        return []
    gates = Gate.objects.filter(gate_id__in=ids, role__in=reviewer_roles_of(user))
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

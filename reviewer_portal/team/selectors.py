"""Reads for the team view: which roles a user supervises, their pending gates with who holds
each and since when, and each reviewer's load and presence."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery

from agents.framework.registry import AGENTS
from reviewer_portal.accounts.roles import ADMIN_ROLE, REVIEWER_ROLES, reviewer_roles_of
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.permissions import gate_permissions_for
from reviewer_portal.team.absences import absences_current
from reviewer_portal.team.models import Absence

# A supervisor's list shows each queue's most urgent gates; the counts cover all of them.
ROWS_PER_ROLE = 100


@dataclass(frozen=True)
class ReviewerLoad:
    """One reviewer of a role: how many of its pending gates they hold, and their oldest claim."""

    user: User
    holds: int
    oldest_held_since: datetime | None
    absence: Absence | None


@dataclass(frozen=True)
class TeamRow:
    """A pending gate in a supervisor's list: since when its holder has held it (their latest
    accepted claim or assignment; None if unheld or held outside the portal), and whether the
    supervisor may reassign it (a gate whose own policy names other supervisors would be refused
    by its workflow: it is listed without a checkbox)."""

    gate: Gate
    held_since: datetime | None
    actionable: bool


@dataclass
class RoleBoard:
    role: str
    label: str
    pending: int = 0
    rows: list[TeamRow] = field(default_factory=list)  # the most urgent ROWS_PER_ROLE
    reviewers: list[ReviewerLoad] = field(default_factory=list)
    assignees: list[User] = field(default_factory=list)  # present holders of the role


def supervision_map() -> dict[str, set[str]]:
    """Supervising role -> the roles whose gates it may reassign, from the agents' declarations:
    a ReviewerRole's supervisors, and each gate policy's supervisors over the roles its gates
    pass through (its own and its escalations')."""
    supervised: dict[str, set[str]] = defaultdict(set)
    for spec in AGENTS.values():
        for role in spec.roles:
            for supervisor in role.supervisors:
                supervised[supervisor].add(role.name)
        for policy in (spec.gate, spec.approval_gate):
            if policy is None:
                continue
            for supervisor in policy.supervisors:
                supervised[supervisor].update({policy.role, *(step.role for step in policy.escalations)})
    # A role never supervises itself here: seniors oversee officers, not each other.
    return {supervisor: roles - {supervisor} for supervisor, roles in supervised.items()}


def supervised_roles_of(*, user: AbstractBaseUser | AnonymousUser) -> list[str]:
    """The roles whose queues the user oversees, in the portal's role order: every role for an
    admin; none for anyone who supervises nothing."""
    roles = reviewer_roles_of(user)
    if ADMIN_ROLE in roles:
        return list(REVIEWER_ROLES)
    supervised = supervision_map()
    overseen = set().union(*(supervised.get(role, set()) for role in roles))
    return [role for role in REVIEWER_ROLES if role in overseen]


def can_supervise(*, user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(supervised_roles_of(user=user))


def role_members(*, role: str) -> QuerySet[User]:
    """Active holders of a role (superusers for `admin`, never a group of that name)."""
    members = (
        User.objects.filter(is_superuser=True)
        if role == ADMIN_ROLE
        else User.objects.filter(groups__name=role)
    )
    return members.filter(is_active=True).order_by("username").distinct()


def team_gates_for(*, user: AbstractBaseUser, roles: list[str] | None = None) -> QuerySet[Gate]:
    """Pending gates of the roles the user supervises (or of `roles` among them), deadline first,
    each with `held_since`: when its latest accepted claim or assignment was made."""
    overseen = supervised_roles_of(user=user)
    wanted = [r for r in overseen if r in roles] if roles is not None else overseen
    latest = _accepted_claims().filter(gate=OuterRef("pk")).order_by("-created_at")
    return (
        Gate.objects.filter(status=Gate.Status.PENDING, role__in=wanted)
        .annotate(held_since=Subquery(latest.values("created_at")[:1]))
        .order_by("deadline", "gate_id")
    )


def _accepted_claims() -> QuerySet[ActionAttempt]:
    """Claims and assignments the workflows accepted (a release names nobody)."""
    return ActionAttempt.objects.filter(
        action=ActionAttempt.Action.ASSIGN, status=ActionAttempt.Status.ACCEPTED, assignee__isnull=False
    )


def _loads_of(roles: list[str]) -> dict[str, dict[str, tuple[int, datetime | None]]]:
    """Role -> holder (id, or name on older gates) -> how many pending gates they hold, and since
    when the oldest. Two grouped queries, not a claim lookup per gate: at 10,000 pending gates a
    correlated subquery per held gate took seconds."""
    held = Gate.objects.filter(status=Gate.Status.PENDING, role__in=roles).exclude(assignee="").order_by()
    since = dict(
        _accepted_claims()
        .filter(gate__status=Gate.Status.PENDING, gate__role__in=roles)
        .exclude(gate__assignee="")
        .order_by()
        .values("gate_id")
        .annotate(latest=Max("created_at"))
        .values_list("gate_id", "latest")
    )
    loads: dict[str, dict[str, tuple[int, datetime | None]]] = defaultdict(dict)
    for gate_id, role, assignee_id, assignee in held.values_list(
        "gate_id", "role", "assignee_id", "assignee"
    ):
        holds, oldest = loads[role].get(assignee_id or assignee, (0, None))
        claimed = since.get(gate_id)
        earliest = min(oldest, claimed) if oldest and claimed else oldest or claimed
        loads[role][assignee_id or assignee] = (holds + 1, earliest)
    return loads


def team_board_for(*, user: AbstractBaseUser) -> list[RoleBoard]:
    """Each supervised role with pending gates or reviewers: its most urgent gates (at most
    ROWS_PER_ROLE), its pending count, and each reviewer's load over all its pending gates."""
    absences = {a.user_id: a for a in absences_current().select_related("marked_by")}
    boards = {role: RoleBoard(role, REVIEWER_ROLES[role]) for role in supervised_roles_of(user=user)}
    gates = team_gates_for(user=user)
    for role, pending in gates.order_by().values_list("role").annotate(n=Count("gate_id")):
        boards[role].pending = pending
    loads = _loads_of(list(boards))
    for board in boards.values():
        for gate in gates.filter(role=board.role)[:ROWS_PER_ROLE]:
            actionable = gate_permissions_for(user=user, gate=gate).assign
            board.rows.append(TeamRow(gate, getattr(gate, "held_since", None), actionable))
        members = list(role_members(role=board.role))
        board.assignees = [m for m in members if m.pk not in absences]
        # Holders who lost the role still count: their claims are what a supervisor must see.
        known = {str(m.pk) for m in members} | {m.get_username() for m in members}
        strays = [key for key in loads[board.role] if key not in known]
        members += list(
            User.objects.filter(Q(pk__in=[k for k in strays if k.isdigit()]) | Q(username__in=strays))
        )
        for member in members:
            mine = loads[board.role]
            holds, oldest = mine.get(str(member.pk)) or mine.get(member.get_username(), (0, None))
            board.reviewers.append(ReviewerLoad(member, holds, oldest, absences.get(member.pk)))
    return [b for b in boards.values() if b.pending or b.reviewers]


def absence_candidates_for(*, user: AbstractBaseUser) -> QuerySet[User]:
    """Whom the user may mark absent: active holders of a role they supervise, never themselves
    and, but for an admin, never a peer who shares one of their roles."""
    ids: set[int] = set()
    for role in supervised_roles_of(user=user):
        ids.update(role_members(role=role).values_list("pk", flat=True))
    candidates = User.objects.filter(pk__in=ids - {user.pk})
    if not getattr(user, "is_superuser", False):
        candidates = candidates.exclude(groups__name__in=reviewer_roles_of(user))
    return candidates.order_by("username")


def absences_recent(*, user: AbstractBaseUser, limit: int = 20) -> QuerySet[Absence]:
    """The latest absences of the people the user may mark absent, current or ended (the record)."""
    candidates = absence_candidates_for(user=user)
    return Absence.objects.filter(user__in=candidates).select_related("user", "marked_by", "ended_by")[:limit]

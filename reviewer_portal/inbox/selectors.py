"""Reads of the gate projection, always scoped to what the user may see."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser, User
from django.db.models import (
    BooleanField,
    Case,
    Count,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.http import Http404
from django.utils import timezone

from agents.framework.contract import SYSTEM_DECIDER
from reviewer_portal.accounts.roles import ADMIN_ROLE, REVIEWER_ROLES, can_audit, reviewer_roles_of
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.own_cases import own_pending_ids, without_own_cases
from reviewer_portal.inbox.presentation import detail_fields, search_fields
from reviewer_portal.inbox.sla_share import SlaShareLeft
from reviewer_portal.search.selectors import search_candidates
from reviewer_portal.team.absences import users_present

MINE = "mine"  # the "Assigned to me" queue
ON_TIME, AT_RISK, OVERDUE, ESCALATED = "on_time", "at_risk", "overdue", "escalated"
# At risk: less than this share of the gate's SLA is left (the countdown turns amber too).
AT_RISK_SHARE = 0.25
# Every order ends on the primary key, so a page boundary never splits or repeats a tie; in the
# same direction, so each sort walks one index (see Gate.Meta.indexes) instead of sorting.
SORTS = {
    "deadline": (F("deadline").asc(), F("gate_id").asc()),
    "-deadline": (F("deadline").desc(), F("gate_id").desc()),
    "age": (F("opened_at").desc(), F("gate_id").desc()),  # youngest first
    "-age": (F("opened_at").asc(), F("gate_id").asc()),  # oldest first
    "amount": (F("amount").asc(nulls_last=True), F("gate_id").asc()),
    "-amount": (F("amount").desc(nulls_last=True), F("gate_id").desc()),
}
# What an inbox row shows (templates/inbox/inbox.html).
INBOX_ROW_FIELDS = (
    "gate_id",
    "agent",
    "subject",
    "amount",
    "recommendation",
    "needs_attention",
    "role",
    "status",
    "sla_seconds",
    "opened_at",
    "deadline",
    "escalation_level",
    "assignee",
    "priority",
    "tool_call",  # the recommendation reads as the tool's action (one small JSON value, often null)
    "flags",  # the agent's flags, named in the row (a short list, most often empty)
    "version",  # with updated_at, the key of the row's rendered HTML (reviewer_portal.inbox.rows)
    "content_digest",  # its first digits go with the version in the row's bulk selection
    "updated_at",
)
# Low-risk gates a reviewer may decide several at a time, where the gate's policy allows it.
BULK_ELIGIBLE = Q(bulk_allowed=True, recommendation="approve", risk_factors=[], needs_attention="", flags=[])


def _bulk_for(user: AbstractBaseUser) -> Q:
    """Bulk-eligible and not held by someone else: a colleague's claim is theirs to decide, even
    for a supervisor (who reassigns it on the team page instead)."""
    return BULK_ELIGIBLE & (Q(assignee="") | Q(assignee_id=str(user.pk)))


@dataclass(frozen=True)
class GateFilters:
    """What the inbox is narrowed to; every field optional (None or "" means any)."""

    queue: str = ""  # a role the user holds, or MINE
    sla: str = ""
    agent: str = ""
    assignee: str = ""  # "me", "unassigned" or a username
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    opened_after: date | None = None  # inclusive, in the portal's time zone
    opened_before: date | None = None  # inclusive
    q: str = ""
    sort: str = "deadline"


@dataclass(frozen=True)
class Queue:
    key: str  # "" for all the user's queues
    label: str
    count: int


def gate_list_for(*, user: AbstractBaseUser, filters: GateFilters | None = None) -> QuerySet[Gate]:
    """Pending gates the user's roles may decide, narrowed by `filters`, most urgent first.

    Each gate carries `sla_state` (on_time, at_risk or overdue) and `bulk_eligible`. A queue of a
    role the user does not hold lists nothing.
    """
    f = filters or GateFilters()
    roles = reviewer_roles_of(user)
    now = timezone.now()
    # Own cases wait for others (four eyes): reviewer_portal.inbox.own_cases lists them apart.
    pending = Gate.objects.filter(status=Gate.Status.PENDING, role__in=roles)
    gates = pending.exclude(gate_id__in=own_pending_ids(user)).annotate(
        sla_left=SlaShareLeft(now),
        sla_state=Case(
            When(deadline__lte=now, then=Value(OVERDUE)),
            When(sla_left__lt=AT_RISK_SHARE, then=Value(AT_RISK)),
            default=Value(ON_TIME),
        ),
        bulk_eligible=ExpressionWrapper(_bulk_for(user), output_field=BooleanField()),
    )
    if f.queue == MINE:
        gates = gates.filter(assignee_id=str(user.pk))
    elif f.queue:
        gates = gates.filter(role=f.queue) if f.queue in roles else gates.none()
    if f.sla:
        gates = gates.filter(_sla_condition(f.sla, now))
    if f.agent:
        gates = gates.filter(agent=f.agent)
    if f.assignee == "me":
        gates = gates.filter(assignee_id=str(user.pk))
    elif f.assignee:
        gates = gates.filter(assignee="" if f.assignee == "unassigned" else f.assignee)
    if f.min_amount is not None:
        gates = gates.filter(amount__gte=f.min_amount)
    if f.max_amount is not None:
        gates = gates.filter(amount__lte=f.max_amount)
    if f.opened_after:
        gates = gates.filter(opened_at__gte=_start_of(f.opened_after))
    if f.opened_before:
        gates = gates.filter(opened_at__lt=_start_of(f.opened_before + timedelta(days=1)))
    if f.q:
        gates = gates.filter(_search(f.q))
    return gates.order_by(*SORTS.get(f.sort, SORTS["deadline"]))


def gate_rows_for(*, user: AbstractBaseUser, filters: GateFilters) -> QuerySet[Gate]:
    """The inbox's rows: `gate_list_for` without the columns a row never shows (case, tool
    results, proposal...), which would cost a JSON decode each."""
    details = {f"detail_{name}": KT(f"case__{name}") for name in detail_fields()}
    return gate_list_for(user=user, filters=filters).only(*INBOX_ROW_FIELDS).annotate(**details)


def _search(text: str) -> Q:
    """The subject, and every case field an agent declares searchable (agents' CaseField)."""
    condition = Q(subject__icontains=text)
    for name in search_fields():
        condition |= Q(**{f"case__{name}__icontains": text})
    # The search index narrows the pending gates to those that may match; these conditions then
    # decide, so the results are the same as without it.
    return search_candidates(text) & condition


def gate_bulk_eligible_for(*, user: AbstractBaseUser) -> QuerySet[Gate]:
    """Pending gates of the user's roles that may be decided in bulk."""
    return gate_list_for(user=user).filter(_bulk_for(user))


def inbox_queues_for(*, user: AbstractBaseUser) -> list[Queue]:
    """The user's queues with their pending counts (one query): all, each role, assigned to me."""
    roles = [role for role in REVIEWER_ROLES if role in reviewer_roles_of(user)]
    if not roles:
        return []
    counts = Gate.objects.filter(status=Gate.Status.PENDING, role__in=roles).aggregate(
        # Counting `role` (never empty), not the primary key: the counts read one index alone.
        all_queues=Count("role"),
        assigned_to_me=Count("role", filter=Q(assignee_id=str(user.pk))),
        **{f"role_{role}": Count("role", filter=Q(role=role)) for role in roles},
    )
    counts = without_own_cases(counts, user=user, roles=roles)  # they wait for others (four eyes)
    return [
        Queue("", "All my queues", counts["all_queues"]),
        *(Queue(role, REVIEWER_ROLES[role], counts[f"role_{role}"]) for role in roles),
        Queue(MINE, "Assigned to me", counts["assigned_to_me"]),
    ]


def _sla_condition(sla: str, now: datetime) -> Q:
    return {
        ON_TIME: Q(sla_left__gte=AT_RISK_SHARE),
        AT_RISK: Q(sla_left__lt=AT_RISK_SHARE, deadline__gt=now),
        # The workflow escalates (or closes) a gate on its timer, so this lasts only moments.
        OVERDUE: Q(deadline__lte=now),
        ESCALATED: Q(escalation_level__gt=0),
    }[sla]


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def gate_visible_to(*, user: AbstractBaseUser) -> QuerySet[Gate]:
    """Every gate the user may open: their roles' gates (any status), or all for auditors.

    Roles held now, only: an officer moved off lending keeps "My decisions" as a record, but no
    longer opens those cases, their trails or their payloads."""
    if can_audit(user):
        return Gate.objects.all()
    roles = reviewer_roles_of(user)
    # A gate that moved on (escalated, held for an admin) stays readable by the roles it left, so
    # its URL (in their e-mails and open pages) never dead-ends. `past_roles` is a JSON list.
    # The gates the user decided are among these while they hold the roles (only a gate's role
    # decides it), and a decision alone opens nothing.
    left = Q(pk__in=[])
    for role in roles:
        left |= Q(past_roles__icontains=json.dumps(role))
    return Gate.objects.filter(role__in=roles) | Gate.objects.filter(left) | _supervised_by(roles)


def decided_by(user: AbstractBaseUser) -> Q:
    """Gates the user decided: by id, by name on gates decided before ids were recorded; never the
    SLA policy's closures (decided by "system", which a user of that name is not)."""
    by_name = Q(decided_by_id="", decided_by=user.get_username()) & ~Q(decided_by=SYSTEM_DECIDER)
    return Q(decided_by_id=str(user.pk)) | by_name


def gate_get_for(*, user: AbstractBaseUser, gate_id: str) -> Gate:
    """The gate, or 404 when it does not exist or the user may not see it (no difference shown)."""
    gate = gate_visible_to(user=user).filter(gate_id=gate_id).first()
    if gate is None:
        raise Http404("No such gate, or you may not open it.")
    return gate


def action_attempts_for(*, gate: Gate) -> QuerySet[ActionAttempt]:
    """Every reviewer action recorded for the gate, newest first (refused ones included)."""
    return gate.attempts.select_related("reviewer", "assignee")


def open_decision_of(*, user: User, gate: Gate) -> ActionAttempt | None:
    """The user's decision on the gate still waiting to be delivered (or withdrawn), if any."""
    return (
        gate.attempts.filter(reviewer=user, action=ActionAttempt.Action.DECIDE, status__in=ActionAttempt.OPEN)
        .order_by("-created_at")
        .first()
    )


def _supervised_by(roles: set[str]) -> QuerySet[Gate]:
    """Gates these roles may reassign (e.g. a senior credit officer covering an absence)."""
    matches = supervised_by_any(roles)
    return Gate.objects.filter(matches) if matches else Gate.objects.none()


def supervised_by_any(roles: Iterable[str]) -> Q:
    """The gates whose supervisors include one of `roles` (an empty Q for none)."""
    # `supervisors` is a JSON list; matching a quoted element works on SQLite and PostgreSQL alike.
    matches = Q()
    for role in roles:
        matches |= Q(supervisors__icontains=json.dumps(role))
    return matches


def gate_assignees_for(*, gate: Gate) -> QuerySet[User]:
    """Colleagues a gate may go to: active holders of its role, never its submitter (four eyes)."""
    holders = (
        User.objects.filter(is_superuser=True)
        if gate.role == ADMIN_ROLE
        else User.objects.filter(groups__name=gate.role)
    )
    holders = holders.filter(is_active=True)
    for username, user_id in ((gate.submitted_by, gate.submitted_by_id), (gate.assignee, gate.assignee_id)):
        if user_id:
            holders = holders.exclude(pk=user_id)
        elif username:
            holders = holders.exclude(username=username)
    # Nobody marked absent is offered a gate (reviewer_portal.team).
    return users_present(holders).order_by("username").distinct()


def gate_neighbours_for(*, user: AbstractBaseUser, gate: Gate) -> tuple[Gate | None, Gate | None]:
    """The gates before and after this one in the user's queue (by deadline), for n / p."""
    queue = gate_list_for(user=user).exclude(gate_id=gate.gate_id)
    later = Q(deadline__gt=gate.deadline) | Q(deadline=gate.deadline, gate_id__gt=gate.gate_id)
    earlier = Q(deadline__lt=gate.deadline) | Q(deadline=gate.deadline, gate_id__lt=gate.gate_id)
    following = queue.filter(later).order_by("deadline", "gate_id").first()
    preceding = queue.filter(earlier).order_by("-deadline", "-gate_id").first()
    return preceding, following

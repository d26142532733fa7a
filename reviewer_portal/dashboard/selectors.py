"""Reads for the SLA dashboard: decisions per day, time to decision, breaches, AI/human agreement.

Scope: a reviewer sees the gates of their roles; auditors and superusers see every gate. Days are
calendar days in the portal's time zone, the last `days` of them up to today.

- A decision is a person's approval or rejection; the SLA policy closing a gate ("system") is
  counted beside them, not as one.
- A breach is a gate escalated at least once or closed by the SLA policy. Breaches count on the
  day the gate opened, so the breach rate is the share of the gates opened in the period.
- The AI agrees with a person when they approved what it recommended approving or rejected what
  it recommended declining; which outcomes are which, each agent declares (AgentSpec.verdicts,
  reviewer_portal/dashboard/verdicts.py). "refer" and tool-call gates carry no AI verdict and are
  counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from agents.framework.contract import SYSTEM_DECIDER
from agents.framework.registry import AGENTS
from reviewer_portal.accounts.roles import can_audit, reviewer_roles_of
from reviewer_portal.audit.prompt_selectors import HUMAN_DECISION
from reviewer_portal.dashboard.verdicts import agreed, with_ai_verdict
from reviewer_portal.inbox.models import Gate

SYSTEM_DECISION = Q(status__in=[Gate.Status.APPROVED, Gate.Status.REJECTED], decided_by=SYSTEM_DECIDER)
BREACHED = Q(escalation_level__gt=0) | SYSTEM_DECISION
# A pending gate is at risk in the last quarter of its SLA (the inbox's countdown turns amber).
AT_RISK_SHARE = 0.25


@dataclass(frozen=True)
class Day:
    day: date
    human: int = 0  # decisions people made that day
    system: int = 0  # gates the SLA policy closed that day
    opened: int = 0  # gates opened that day
    breaches: int = 0  # of the gates opened that day


@dataclass(frozen=True)
class AgentAgreement:
    agent: str
    title: str
    decisions: int  # human decisions on this agent's gates
    with_verdict: int  # of which the AI had recommended approving or declining
    agreed: int

    @property
    def no_verdict(self) -> int:
        return self.decisions - self.with_verdict

    @property
    def rate(self) -> float | None:
        return self.agreed / self.with_verdict if self.with_verdict else None


@dataclass(frozen=True)
class PendingNow:
    on_time: int = 0
    at_risk: int = 0
    overdue: int = 0  # past the deadline; the workflow's timer escalates or closes it within moments
    escalated: int = 0  # of all pending gates, already escalated at least once

    @property
    def total(self) -> int:
        return self.on_time + self.at_risk + self.overdue


@dataclass(frozen=True)
class DashboardStats:
    days: list[Day]
    agent: str  # "" for every agent in scope
    sees_everything: bool
    median_time_to_decision: timedelta | None
    agreement: list[AgentAgreement]
    pending: PendingNow

    @property
    def agent_title(self) -> str:
        return agent_title(self.agent) if self.agent else ""

    @property
    def human_decisions(self) -> int:
        return sum(d.human for d in self.days)

    @property
    def system_decisions(self) -> int:
        return sum(d.system for d in self.days)

    @property
    def opened(self) -> int:
        return sum(d.opened for d in self.days)

    @property
    def breaches(self) -> int:
        return sum(d.breaches for d in self.days)

    @property
    def breach_rate(self) -> float | None:
        return self.breaches / self.opened if self.opened else None


def dashboard_scope_for(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Gate]:
    """The gates whose figures the user may see: their roles' gates, or all for auditors."""
    if can_audit(user):
        return Gate.objects.all()
    return Gate.objects.filter(role__in=reviewer_roles_of(user))


def dashboard_agents_for(*, user: AbstractBaseUser | AnonymousUser) -> list[tuple[str, str]]:
    """(name, title) of every agent with gates in the user's scope, for the agent filter."""
    names = dashboard_scope_for(user=user).order_by("agent").values_list("agent", flat=True).distinct()
    return [(name, agent_title(name)) for name in names]


def agent_title(name: str) -> str:
    spec = AGENTS.get(name)
    return spec.title if spec else name


def dashboard_stats(
    *, user: AbstractBaseUser | AnonymousUser, days: int = 30, agent: str | None = None
) -> DashboardStats:
    """The dashboard's figures for the last `days` days, of one agent or all in the user's scope."""
    if days < 1:
        raise ValueError("days must be at least 1")
    gates = dashboard_scope_for(user=user)
    if agent:
        gates = gates.filter(agent=agent)
    today = timezone.localdate()
    period = [today - timedelta(days=n) for n in reversed(range(days))]
    start, end = _start_of(period[0]), _start_of(today + timedelta(days=1))
    decided = gates.filter(decided_at__gte=start, decided_at__lt=end)
    opened = gates.filter(opened_at__gte=start, opened_at__lt=end)
    return DashboardStats(
        days=_per_day(decided=decided, opened=opened, period=period),
        agent=agent or "",
        sees_everything=can_audit(user),
        median_time_to_decision=_median_time_to_decision(decided.filter(HUMAN_DECISION)),
        agreement=_agreement(decided.filter(HUMAN_DECISION)),
        pending=_pending_now(gates.filter(status=Gate.Status.PENDING)),
    )


def _per_day(*, decided: QuerySet[Gate], opened: QuerySet[Gate], period: list[date]) -> list[Day]:
    """Every day of the period, zero-filled: decisions by the day decided, breaches by the day opened."""
    # order_by(): the model's default ordering would otherwise split the groups.
    decisions = (
        decided.annotate(day=TruncDate("decided_at"))
        .values("day")
        .annotate(human=Count("pk", filter=HUMAN_DECISION), system=Count("pk", filter=SYSTEM_DECISION))
        .order_by()
    )
    openings = (
        opened.annotate(day=TruncDate("opened_at"))
        .values("day")
        .annotate(opened=Count("pk"), breaches=Count("pk", filter=BREACHED))
        .order_by()
    )
    by_day: dict[date, dict[str, int]] = {}
    for decided_on in decisions:
        by_day.setdefault(decided_on["day"], {}).update(
            human=decided_on["human"], system=decided_on["system"]
        )
    for opened_on in openings:
        by_day.setdefault(opened_on["day"], {}).update(
            opened=opened_on["opened"], breaches=opened_on["breaches"]
        )
    return [Day(day, **by_day.get(day, {})) for day in period]


def _median_time_to_decision(human: QuerySet[Gate]) -> timedelta | None:
    """The exact median of opened_at -> decided_at, reading only the middle one or two rows.

    Ordering by the duration in the database works the same on SQLite and PostgreSQL, and no
    decision list of unbounded size is loaded into Python.
    """
    taken = human.annotate(
        taken=ExpressionWrapper(F("decided_at") - F("opened_at"), output_field=DurationField())
    ).order_by("taken", "pk")
    count = taken.count()
    if not count:
        return None
    middle = list(taken.values_list("taken", flat=True)[(count - 1) // 2 : count // 2 + 1])
    return sum(middle, timedelta()) / len(middle)


def _agreement(human: QuerySet[Gate]) -> list[AgentAgreement]:
    rows = (
        human.values("agent")
        .annotate(
            decisions=Count("pk"),
            with_verdict=Count("pk", filter=with_ai_verdict()),
            agreed=Count("pk", filter=with_ai_verdict() & agreed()),
        )
        .order_by("agent")
    )
    return [AgentAgreement(title=agent_title(row["agent"]), **row) for row in rows]


def _pending_now(pending: QuerySet[Gate]) -> PendingNow:
    """Pending gates by SLA state, sorted in Python: the live queue is small, and the arithmetic
    on deadlines and SLA seconds is then the same on every database."""
    now = timezone.now()
    counts = {"on_time": 0, "at_risk": 0, "overdue": 0, "escalated": 0}
    for deadline, sla_seconds, escalation_level in pending.values_list(
        "deadline", "sla_seconds", "escalation_level"
    ).order_by():
        if deadline <= now:
            counts["overdue"] += 1
        elif (deadline - now).total_seconds() <= sla_seconds * AT_RISK_SHARE:
            counts["at_risk"] += 1
        else:
            counts["on_time"] += 1
        counts["escalated"] += escalation_level > 0
    return PendingNow(**counts)


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))

"""Model-risk figures for auditors: how people decided on each agent x model x prompt version.

Counted from the gate projection, over every gate it holds (the trend: the last WEEKS ISO weeks).
The definitions are the dashboard's: a decision is a person's approval or rejection, the SLA policy
closing a gate is counted beside them; an override is a person deciding against an AI verdict
(approve / advise vs decline / no_action), so the override rate is overrides over human decisions
with a verdict ("refer" and tool-call gates have none); a breach is a gate escalated or closed by
the SLA policy, as a share of the gates opened. Times to decision are people's decisions only.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Max, Min, QuerySet
from django.db.models.functions import TruncWeek
from django.utils import timezone

from agents.framework.prompts import PROMPTS
from reviewer_portal.audit.prompt_selectors import HUMAN_DECISION
from reviewer_portal.dashboard.charts import BarRows, ColumnChart, bar_rows, column_chart
from reviewer_portal.dashboard.selectors import BREACHED, SYSTEM_DECISION, agent_title
from reviewer_portal.dashboard.verdicts import agreed, with_ai_verdict
from reviewer_portal.inbox.models import Gate

WEEKS = 12
KEY = ("agent", "model", "offline_model", "prompt_id", "prompt_version")


def counts() -> dict[str, Count]:
    """The figures per row; verdicts come from the registered agents, so built when asked."""
    override = HUMAN_DECISION & with_ai_verdict() & ~agreed()
    return {
        "opened": Count("pk"),
        "human": Count("pk", filter=HUMAN_DECISION),
        "system": Count("pk", filter=SYSTEM_DECISION),
        "with_verdict": Count("pk", filter=HUMAN_DECISION & with_ai_verdict()),
        "overrides": Count("pk", filter=override),
        "breaches": Count("pk", filter=BREACHED),
    }


def share_text(part: int, whole: int) -> str:
    """ "66.7 % (2 of 3)", or an en dash when there is nothing to divide by."""
    return f"{part / whole * 100:.1f} % ({part} of {whole})" if whole else "\N{EN DASH}"


@dataclass(frozen=True)
class Figures:
    """Counts of one group of gates (a model row or a week)."""

    opened: int = 0
    human: int = 0
    system: int = 0
    with_verdict: int = 0
    overrides: int = 0
    breaches: int = 0

    @property
    def override_rate(self) -> float | None:
        return self.overrides / self.with_verdict if self.with_verdict else None

    @property
    def override_text(self) -> str:
        return share_text(self.overrides, self.with_verdict)

    @property
    def breach_text(self) -> str:
        return share_text(self.breaches, self.opened)


@dataclass(frozen=True)
class ModelRow:
    agent: str
    model: str
    offline_model: bool
    prompt_id: str
    prompt_version: int | None
    figures: Figures
    median: timedelta | None  # opened -> a person's decision
    p90: timedelta | None

    @property
    def title(self) -> str:
        return agent_title(self.agent)

    @property
    def model_label(self) -> str:
        return "offline model" if self.offline_model else self.model


@dataclass(frozen=True)
class Week:
    monday: date
    figures: Figures

    @property
    def label(self) -> str:
        year, week, _ = self.monday.isocalendar()
        return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class InventoryRow:
    agent: str
    model_label: str
    prompt_id: str
    prompt_version: int | None
    prompt_sha256: str
    first_use: datetime
    last_use: datetime
    gates: int

    @property
    def title(self) -> str:
        return agent_title(self.agent)

    @property
    def registered_text_differs(self) -> bool:
        """Runs pinned another text than this portal registered under the version (edited in place)."""
        registered = PROMPTS.get((self.prompt_id, self.prompt_version or 0))
        return registered is not None and registered.sha256 != self.prompt_sha256


@dataclass(frozen=True)
class TrendCharts:
    decisions: ColumnChart
    overrides: BarRows


@dataclass(frozen=True)
class ModelRisk:
    rows: list[ModelRow]
    weeks: list[Week]  # oldest first, zero-filled
    inventory: list[InventoryRow]
    charts: TrendCharts


def model_risk(*, now: datetime | None = None) -> ModelRisk:
    """Every figure of the model-risk page; `now` fixes the trend's last week (tests pass it)."""
    gates = Gate.objects.order_by()  # no default ordering: it would split the groups
    weeks = _weeks(gates, timezone.localdate(now or timezone.now()))
    return ModelRisk(rows=_rows(gates), weeks=weeks, inventory=_inventory(gates), charts=_charts(weeks))


def _rows(gates: QuerySet[Gate]) -> list[ModelRow]:
    taken: dict[tuple, list[timedelta]] = defaultdict(list)
    for *key, opened_at, decided_at in gates.filter(HUMAN_DECISION).values_list(
        *KEY, "opened_at", "decided_at"
    ):
        if decided_at is not None:
            taken[tuple(key)].append(decided_at - opened_at)
    rows = []
    for row in gates.values(*KEY).annotate(**counts()):
        key = tuple(row.pop(field) for field in KEY)
        durations = sorted(taken.get(key, []))
        rows.append(ModelRow(*key, Figures(**row), _median(durations), _percentile(durations, 0.9)))
    return sorted(rows, key=lambda r: (r.agent, r.model_label, r.prompt_id, r.prompt_version or 0))


def _weeks(gates: QuerySet[Gate], today: date) -> list[Week]:
    """The last WEEKS ISO weeks to this one: decisions by the week decided, breaches by the week opened."""
    this_monday = today - timedelta(days=today.weekday())
    mondays = [this_monday - timedelta(weeks=n) for n in reversed(range(WEEKS))]
    start = timezone.make_aware(datetime.combine(mondays[0], time.min))
    figures = counts()
    decided = (
        gates.filter(decided_at__gte=start)
        .annotate(week=TruncWeek("decided_at"))
        .values("week")
        .annotate(**{name: figures[name] for name in ("human", "system", "with_verdict", "overrides")})
    )
    opened = (
        gates.filter(opened_at__gte=start)
        .annotate(week=TruncWeek("opened_at"))
        .values("week")
        .annotate(opened=figures["opened"], breaches=figures["breaches"])
    )
    by_week: dict[date, dict[str, int]] = defaultdict(dict)
    for row in [*decided, *opened]:
        by_week[_as_date(row.pop("week"))].update(row)
    return [Week(monday, Figures(**by_week.get(monday, {}))) for monday in mondays]


def _inventory(gates: QuerySet[Gate]) -> list[InventoryRow]:
    rows = (
        gates.exclude(prompt_id="")
        .values("agent", "model", "offline_model", "prompt_id", "prompt_version", "prompt_sha256")
        .annotate(first_use=Min("opened_at"), last_use=Max("opened_at"), gates=Count("pk"))
    )
    inventory = [
        InventoryRow(
            agent=row["agent"],
            model_label="offline model" if row["offline_model"] else row["model"],
            prompt_id=row["prompt_id"],
            prompt_version=row["prompt_version"],
            prompt_sha256=row["prompt_sha256"],
            first_use=row["first_use"],
            last_use=row["last_use"],
            gates=row["gates"],
        )
        for row in rows
    ]
    return sorted(inventory, key=lambda r: (r.agent, r.model_label, r.prompt_id, r.prompt_version or 0))


def _charts(weeks: list[Week]) -> TrendCharts:
    labels = [w.label for w in weeks]
    human = sum(w.figures.human for w in weeks)
    overrides = sum(w.figures.overrides for w in weeks)
    with_verdict = sum(w.figures.with_verdict for w in weeks)
    period = f"from {labels[0]} to {labels[-1]}"
    decisions = column_chart(
        title="Decisions per ISO week",
        desc=f"Stacked columns, one per ISO week {period}: {human} decisions by people and "
        f"{sum(w.figures.system for w in weeks)} gates closed by the SLA policy.",
        labels=labels,
        series={
            "by people": [w.figures.human for w in weeks],
            "by SLA policy": [w.figures.system for w in weeks],
        },
    )
    rates = bar_rows(
        title="Override rate per ISO week",
        desc=f"Horizontal bars, one per ISO week {period}: the share of decisions with an AI verdict "
        f"where the reviewer decided against it; {share_text(overrides, with_verdict)} over the period.",
        rows=[(w.label, w.figures.override_rate, w.figures.override_text) for w in weeks],
    )
    return TrendCharts(decisions, rates)


def _median(durations: list[timedelta]) -> timedelta | None:
    return statistics.median(durations) if durations else None


def _percentile(durations: list[timedelta], share: float) -> timedelta | None:
    """Nearest rank: the smallest time at or under which `share` of the sorted durations fall."""
    if not durations:
        return None
    return durations[max(math.ceil(share * len(durations)), 1) - 1]


def _as_date(week: date | datetime) -> date:
    return timezone.localdate(week) if isinstance(week, datetime) else week

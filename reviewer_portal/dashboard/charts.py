"""Geometry of the dashboard's server-drawn SVG charts: rectangles, ticks and labels from series.

Plain arithmetic without Django, so templates only place what these return and tests can check
the numbers. Coordinates are viewBox units; CSS scales each chart to its container.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reviewer_portal.dashboard.selectors import AgentAgreement, DashboardStats

# Sized for a half-width card, so 12-unit text shows at about 12 px.
WIDTH, COLUMN_HEIGHT = 480, 220
# Room for the y-axis numbers on the left and the day labels underneath.
LEFT, RIGHT, TOP, BOTTOM = 32, 20, 12, 28
BAR_SHARE = 0.7  # of each day's slot; the rest is the gap between columns
MAX_X_LABELS = 7
# Horizontal bars: each agent's name above its bar, so a long name never squeezes the bars.
ROWS_WIDTH, TEXT_WIDTH = 520, 180
ROW_LABEL_HEIGHT, ROW_BAR_HEIGHT, ROW_GAP = 22, 20, 14
ROW_HEIGHT = ROW_LABEL_HEIGHT + ROW_BAR_HEIGHT + ROW_GAP


@dataclass(frozen=True)
class Segment:
    series: str
    index: int  # of the series, for its colour
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Column:
    label: str
    slot_x: float  # the whole slot, so a tooltip also covers a day with nothing in it
    slot_width: float
    segments: list[Segment]  # bottom first; zero values left out
    values: dict[str, int]


@dataclass(frozen=True)
class Tick:
    value: int
    y: float


@dataclass(frozen=True)
class AxisLabel:
    text: str
    x: float


@dataclass(frozen=True)
class ColumnChart:
    """Stacked columns, one per label, the series stacked in the order given."""

    title: str
    desc: str
    series: list[str]
    columns: list[Column]
    ticks: list[Tick]
    x_labels: list[AxisLabel]
    width: int = WIDTH
    height: int = COLUMN_HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    baseline: int = COLUMN_HEIGHT - BOTTOM

    @property
    def plot_height(self) -> int:
        return self.baseline - self.top

    @property
    def tick_x(self) -> int:
        return self.left - 6

    @property
    def label_y(self) -> int:
        return self.baseline + 18

    @property
    def middle(self) -> tuple[float, float]:
        return (self.left + self.right) / 2, (self.top + self.baseline) / 2

    @property
    def empty(self) -> bool:
        return not any(column.segments for column in self.columns)


@dataclass(frozen=True)
class BarRow:
    label: str
    text: str
    share: float | None  # 0..1; None: nothing to measure, so no bar
    label_y: float  # the name's baseline, above its bar
    y: float
    bar_width: float

    @property
    def text_y(self) -> float:
        return self.y + ROW_BAR_HEIGHT / 2


@dataclass(frozen=True)
class BarRows:
    """Horizontal bars of shares (0..1), each under its name, its figures written beside it."""

    title: str
    desc: str
    rows: list[BarRow]
    height: int
    width: int = ROWS_WIDTH
    bar_height: int = ROW_BAR_HEIGHT
    plot_width: int = ROWS_WIDTH - TEXT_WIDTH

    @property
    def text_x(self) -> int:
        return self.plot_width + 10


def nice_scale(max_value: float, *, steps: int = 4) -> tuple[int, int]:
    """(top, step) of a count axis: whole steps of 1, 2 or 5 times a power of ten with top >= max_value.

    An empty or all-zero series still gets an axis (0 to 1), so nothing divides by zero.
    """
    if max_value <= 0:
        return 1, 1
    rough = max_value / steps
    magnitude = 10 ** math.floor(math.log10(rough)) if rough >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)
    return math.ceil(max_value / step) * step, step


def column_chart(
    *, title: str, desc: str, labels: Sequence[str], series: Mapping[str, Sequence[int]]
) -> ColumnChart:
    """Stacked columns for `labels`, each series a value per label (stacked in mapping order)."""
    if any(len(values) != len(labels) for values in series.values()):
        raise ValueError("every series needs one value per label")
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    top, step = nice_scale(max(totals, default=0))
    baseline, plot_height = COLUMN_HEIGHT - BOTTOM, COLUMN_HEIGHT - BOTTOM - TOP
    slot = (WIDTH - RIGHT - LEFT) / len(labels) if labels else 0
    bar = slot * BAR_SHARE

    columns = []
    for i, label in enumerate(labels):
        x, stacked, segments = LEFT + i * slot + (slot - bar) / 2, 0, []
        for index, (name, values) in enumerate(series.items()):
            if values[i] > 0:
                height = values[i] / top * plot_height
                y = baseline - stacked - height
                segments.append(Segment(name, index, values[i], _r(x), _r(y), _r(bar), _r(height)))
                stacked += height
        values_by_series = {name: values[i] for name, values in series.items()}
        columns.append(Column(label, _r(LEFT + i * slot), _r(slot), segments, values_by_series))

    ticks = [Tick(v, _r(baseline - v / top * plot_height)) for v in range(0, top + 1, step)]
    return ColumnChart(title, desc, list(series), columns, ticks, _x_labels(labels, slot))


def bar_rows(*, title: str, desc: str, rows: Sequence[tuple[str, float | None, str]]) -> BarRows:
    """One horizontal bar per (label, share, text); a share of None draws no bar, only the text."""
    plot_width = ROWS_WIDTH - TEXT_WIDTH
    laid_out = []
    for i, (label, share, text) in enumerate(rows):
        clamped = None if share is None else min(max(share, 0.0), 1.0)
        top = TOP + i * ROW_HEIGHT
        bar_width = (clamped or 0) * plot_width
        laid_out.append(
            BarRow(label, text, clamped, top + ROW_LABEL_HEIGHT - 4, top + ROW_LABEL_HEIGHT, _r(bar_width))
        )
    return BarRows(title, desc, laid_out, height=TOP + len(rows) * ROW_HEIGHT)


@dataclass(frozen=True)
class DashboardCharts:
    decisions: ColumnChart
    breaches: ColumnChart
    agreement: BarRows


def dashboard_charts(stats: DashboardStats) -> DashboardCharts:
    """The dashboard's three charts, each with a title and a one-sentence summary for its <desc>."""
    days = stats.days
    labels = [f"{d.day.day} {d.day:%b}" for d in days]
    period = f"from {labels[0]} to {labels[-1]}"
    decisions = column_chart(
        title="Decisions per day",
        desc=f"Stacked columns, one per day {period}: {_count(stats.human_decisions, 'decision')} by people "
        f"and {_count(stats.system_decisions, 'gate')} closed by the SLA policy.",
        labels=labels,
        series={"by people": [d.human for d in days], "by SLA policy": [d.system for d in days]},
    )
    breaches = column_chart(
        title="SLA breaches by day opened",
        desc=f"Columns, one per day {period}: {stats.breaches} of {_count(stats.opened, 'gate')} opened "
        "were escalated or closed by the SLA policy.",
        labels=labels,
        series={"breached": [d.breaches for d in days]},
    )
    agreement = bar_rows(
        title="AI and reviewer agreement per agent",
        desc="Horizontal bars, one per agent: the share of decisions with an AI verdict where the "
        "reviewer decided as the AI recommended. "
        + " ".join(f"{a.title}: {_agreement_text(a)}." for a in stats.agreement),
        rows=[(a.title, a.rate, _agreement_text(a)) for a in stats.agreement],
    )
    return DashboardCharts(decisions, breaches, agreement)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _agreement_text(agreement: AgentAgreement) -> str:
    if agreement.rate is None:
        return "no AI verdicts"
    return f"{agreement.rate * 100:.0f} % ({agreement.agreed} of {agreement.with_verdict})"


def _x_labels(labels: Sequence[str], slot: float) -> list[AxisLabel]:
    """At most MAX_X_LABELS evenly spaced labels, always including the last (today)."""
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    last = len(labels) - 1
    return [
        AxisLabel(label, _r(LEFT + i * slot + slot / 2))
        for i, label in enumerate(labels)
        if (last - i) % every == 0
    ]


def _r(value: float) -> float:
    return round(value, 1)

"""The SLA dashboard: its figures from gate rows, its scope, its filters and its SVG charts."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from reviewer_portal.dashboard.charts import (
    COLUMN_HEIGHT,
    MAX_X_LABELS,
    bar_rows,
    column_chart,
    dashboard_charts,
    nice_scale,
)
from reviewer_portal.dashboard.selectors import dashboard_stats
from reviewer_portal.dashboard.verdicts import verdict_of
from reviewer_portal.inbox.models import Gate
from tests.conftest import logged_in, make_user

_numbers = itertools.count(1)
# A tool-call gate's recommendation is the tool's name. (The real "regulatory.record_finding" is
# longer than the column's 20 characters, which PostgreSQL refuses: a projection bug, reported.)
TOOL_CALL = "record_finding"


def day(days_ago: int, hour: int = 10) -> datetime:
    """A moment `days_ago` calendar days back in the portal's time zone (mid-morning: no edges)."""
    return timezone.make_aware(datetime.combine(timezone.localdate() - timedelta(days=days_ago), time(hour)))


def make_gate(
    *,
    opened: datetime,
    agent: str = "loans",
    role: str = "credit_officer",
    recommendation: str = "approve",
    status: str = "pending",
    decided_after: timedelta | None = None,
    decided_by: str = "",
    **fields: Any,
) -> Gate:
    """A projection row as the workflow would publish it; `decided_after` closes it."""
    number = next(_numbers)
    values: dict[str, Any] = {
        "gate_id": f"dash-{number}--g1",
        "workflow_id": f"dash-{number}",
        "agent": agent,
        "kind": "loan_decision",
        "subject": f"Case {number}",
        "submitted_by": "intake",
        "recommendation": recommendation,
        "rationale": "Checks done.",
        "model": "offline model",
        "role": role,
        "sla_seconds": 3600,
        "opened_at": opened,
        "deadline": opened + timedelta(hours=1),
        "version": 1,
        "status": status,
        "decided_by": decided_by,
        **fields,
    }
    if decided_after is not None:
        values["decided_at"] = opened + decided_after
        if status == "pending":
            values["status"] = "approved"
        values["decided_by"] = decided_by or "olivia"
    return Gate.objects.create(**values)


def decided(days_ago: int, *, minutes: int = 30, **fields: Any) -> Gate:
    return make_gate(opened=day(days_ago), decided_after=timedelta(minutes=minutes), **fields)


def closed_by_policy(days_ago: int, **fields: Any) -> Gate:
    return make_gate(
        opened=day(days_ago),
        decided_after=timedelta(hours=1),
        status="rejected",
        decided_by="system",
        **fields,
    )


@pytest.fixture
def auditor(db):
    return make_user("audrey", "auditor")


# --- figures ----------------------------------------------------------------------------------


def test_decisions_are_counted_per_day_human_and_system_zero_filled(auditor):
    decided(2)
    decided(2, status="rejected")
    closed_by_policy(2)
    decided(5)
    decided(40)  # before the period
    make_gate(opened=day(1))  # still pending

    stats = dashboard_stats(user=auditor, days=7)

    assert [d.day for d in stats.days] == [timezone.localdate() - timedelta(days=n) for n in range(6, -1, -1)]
    by_day = {(timezone.localdate() - d.day).days: (d.human, d.system) for d in stats.days}
    assert by_day == {6: (0, 0), 5: (1, 0), 4: (0, 0), 3: (0, 0), 2: (2, 1), 1: (0, 0), 0: (0, 0)}
    assert (stats.human_decisions, stats.system_decisions) == (3, 1)


def test_days_are_calendar_days_in_the_portals_time_zone(settings, auditor):
    settings.TIME_ZONE = "Pacific/Auckland"  # UTC+12 or +13: 00:30 there is the previous day in UTC
    make_gate(opened=day(2, hour=0) - timedelta(hours=1), decided_after=timedelta(hours=1, minutes=30))

    stats = dashboard_stats(user=auditor, days=7)

    by_day = {(timezone.localdate() - d.day).days: (d.opened, d.human) for d in stats.days}
    assert by_day[3] == (1, 0)  # opened at 23:00 local
    assert by_day[2] == (0, 1)  # decided at 00:30 local


def test_median_time_to_decision_is_of_human_decisions_only(auditor):
    assert dashboard_stats(user=auditor).median_time_to_decision is None

    for minutes in (90, 10, 20):
        decided(3, minutes=minutes)
    closed_by_policy(3)  # an hour, but not a person's decision
    closed_by_policy(4)
    assert dashboard_stats(user=auditor).median_time_to_decision == timedelta(minutes=20)

    decided(1, minutes=30)  # an even count: the mean of the middle two
    assert dashboard_stats(user=auditor).median_time_to_decision == timedelta(minutes=25)


def test_breaches_are_escalations_and_sla_closures_counted_on_the_day_opened(auditor):
    make_gate(opened=day(3), escalation_level=1, role="senior_credit_officer")  # escalated, pending
    decided(3, escalation_level=1)  # escalated, then decided in time by a senior officer
    closed_by_policy(3)
    decided(3)
    decided(1)

    stats = dashboard_stats(user=auditor, days=7)

    by_day = {(timezone.localdate() - d.day).days: (d.opened, d.breaches) for d in stats.days}
    assert by_day[3] == (4, 3)
    assert by_day[1] == (1, 0)
    assert (stats.breaches, stats.opened, stats.breach_rate) == (3, 5, 0.6)


def test_breach_rate_is_none_without_gates(auditor):
    stats = dashboard_stats(user=auditor)
    assert (stats.breaches, stats.opened, stats.breach_rate) == (0, 0, None)


def test_agreement_per_agent_counts_verdicts_apart_from_referrals_and_tool_calls(auditor):
    decided(2, recommendation="approve", status="approved")  # agrees
    decided(2, recommendation="decline", status="rejected")  # agrees
    decided(2, recommendation="approve", status="rejected")  # disagrees
    decided(2, recommendation="refer", status="approved")  # no AI verdict
    closed_by_policy(2, recommendation="decline")  # not a person's decision
    advice = {"agent": "advice", "role": "licensed_adviser"}
    decided(2, recommendation="advise", status="approved", **advice)
    decided(2, recommendation="no_action", status="approved", **advice)
    regulatory = {"agent": "regulatory", "role": "compliance_reviewer"}
    decided(2, recommendation=TOOL_CALL, status="approved", **regulatory)

    rows = {a.agent: a for a in dashboard_stats(user=auditor).agreement}

    loans, advice_row, reg = rows["loans"], rows["advice"], rows["regulatory"]
    assert (loans.decisions, loans.with_verdict, loans.agreed, loans.no_verdict) == (4, 3, 2, 1)
    assert loans.rate == pytest.approx(2 / 3)
    assert (advice_row.agreed, advice_row.with_verdict, advice_row.rate) == (1, 2, 0.5)
    assert (reg.decisions, reg.no_verdict, reg.rate) == (1, 1, None)
    assert reg.title == "Regulatory document review"


def test_an_agent_declares_which_of_its_outcomes_are_verdicts(auditor):
    """Customer inquiries' "reply" is a verdict a representative agrees with by approving (the
    agent declares it); under the old fixed vocabulary it counted as no verdict at all."""
    inquiries = {"agent": "customer_service", "role": "support_rep"}
    decided(2, recommendation="reply", status="approved", **inquiries)  # agrees
    decided(2, recommendation="reply", status="rejected", **inquiries)  # overrides
    decided(2, recommendation="refer", status="approved", **inquiries)  # no verdict
    finops = {"agent": "finops", "role": "budget_approver"}
    decided(2, recommendation="within_budget", status="approved", **finops)  # declares none

    rows = {a.agent: a for a in dashboard_stats(user=auditor).agreement}

    replies = rows["customer_service"]
    assert (replies.decisions, replies.with_verdict, replies.agreed, replies.rate) == (3, 2, 1, 0.5)
    assert (rows["finops"].with_verdict, rows["finops"].rate) == (0, None)
    assert verdict_of("customer_service", "reply") == "approve" and verdict_of("loans", "decline") == "reject"


def test_pending_now_is_split_by_sla_state(auditor):
    now = timezone.now()
    hour = timedelta(hours=1)
    make_gate(opened=now - timedelta(minutes=10), deadline=now + timedelta(minutes=50))  # on time
    make_gate(opened=now - timedelta(minutes=50), deadline=now + timedelta(minutes=10))  # under 25 % left
    make_gate(opened=now - hour - timedelta(minutes=1), deadline=now - timedelta(minutes=1))  # overdue
    make_gate(opened=now - 2 * hour, deadline=now + 3 * hour, escalation_level=1, sla_seconds=4 * 3600)
    decided(1)

    pending = dashboard_stats(user=auditor).pending

    assert (pending.on_time, pending.at_risk, pending.overdue, pending.escalated) == (2, 1, 1, 1)
    assert pending.total == 4


# --- scope and filters ------------------------------------------------------------------------


@pytest.fixture
def loan_and_compliance_gates(db):
    decided(1, recommendation="approve", status="approved")
    decided(1, recommendation="decline", status="approved")
    decided(2, recommendation=TOOL_CALL, agent="regulatory", role="compliance_reviewer")


def test_a_compliance_reviewer_sees_only_the_gates_of_their_role(loan_and_compliance_gates):
    reviewer = make_user("carla", "compliance_reviewer")

    stats = dashboard_stats(user=reviewer)
    assert [a.agent for a in stats.agreement] == ["regulatory"]
    assert stats.human_decisions == 1

    page = logged_in(reviewer).get("/dashboard/").content.decode()
    assert "Regulatory document review" in page
    assert "Loan" not in page  # neither in the figures nor among the filter's agents


def test_an_auditor_and_a_superuser_see_every_agent(loan_and_compliance_gates, auditor):
    admin = make_user("root", superuser=True)
    for user in (auditor, admin):
        stats = dashboard_stats(user=user)
        assert sorted(a.agent for a in stats.agreement) == ["loans", "regulatory"]
        assert stats.human_decisions == 3 and stats.sees_everything


def test_the_agent_filter_narrows_every_figure(loan_and_compliance_gates, auditor):
    response = logged_in(auditor).get("/dashboard/", {"agent": "loans"})

    assert response.status_code == 200
    stats = response.context["stats"]
    assert stats.agent == "loans" and stats.human_decisions == 2
    assert [a.agent for a in stats.agreement] == ["loans"]


def test_an_agent_outside_the_users_scope_is_refused_with_a_message(loan_and_compliance_gates):
    reviewer = make_user("carla", "compliance_reviewer")

    response = logged_in(reviewer).get("/dashboard/", {"agent": "loans"})

    assert response.status_code == 400
    assert "Some filters could not be applied" in response.content.decode()
    stats = response.context["stats"]
    assert stats.agent == "" and [a.agent for a in stats.agreement] == ["regulatory"]


def test_an_unknown_period_is_refused_and_the_agent_filter_still_applies(loan_and_compliance_gates, auditor):
    response = logged_in(auditor).get("/dashboard/", {"days": "1000", "agent": "regulatory"})

    assert response.status_code == 400
    stats = response.context["stats"]
    assert len(stats.days) == 30 and stats.agent == "regulatory"


def test_the_period_can_be_chosen(auditor):
    response = logged_in(auditor).get("/dashboard/", {"days": "7"})
    assert response.status_code == 200 and len(response.context["stats"].days) == 7


def test_a_user_without_reviewer_roles_is_refused(db):
    assert logged_in(make_user("nobody")).get("/dashboard/").status_code == 403


def test_the_dashboard_needs_a_login(client, db):
    response = client.get("/dashboard/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_nav_links_to_the_dashboard_for_reviewers_and_auditors_only(db, rf):
    def nav(user) -> str:
        request = rf.get("/")
        request.user = user
        return render_to_string("base.html", request=request)

    link = 'href="/dashboard/"'
    assert link in nav(make_user("olivia", "credit_officer"))
    assert link in nav(make_user("audrey", "auditor"))
    assert link in nav(make_user("root", superuser=True))
    assert link not in nav(make_user("nobody"))


# --- the page ---------------------------------------------------------------------------------


def test_the_page_draws_three_svg_charts_each_with_a_title_desc_and_data_table(
    loan_and_compliance_gates, auditor
):
    closed_by_policy(1)

    page = logged_in(auditor).get("/dashboard/").content.decode()

    for chart in ("decisions", "breaches", "agreement"):
        svg = re.search(rf'<svg class="chart[^"]* chart-{chart}"[^>]*>(.*?)</svg>', page, re.S)
        assert svg, chart
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in svg.group(0)
        assert f'<title id="{chart}-title">' in svg.group(1) and f'<desc id="{chart}-desc">' in svg.group(1)
    assert page.count("<details>") == 3 and page.count('<table class="gates">') == 3
    yesterday = (timezone.localdate() - timedelta(days=1)).strftime("%a %-d %b")
    # Yesterday: two decisions by people, one closed by the SLA policy; three gates opened, one breached.
    assert f'<th scope="row">{yesterday}</th><td class="num">2</td><td class="num">1</td>' in page
    assert f'<th scope="row">{yesterday}</th><td class="num">3</td><td class="num">1</td>' in page
    assert "50 % (1 of 2)" in page  # the loans agent's agreement, written beside its bar
    assert "3 decisions by people and 1 gate closed by the SLA policy." in page  # the chart's <desc>


def test_the_page_renders_with_no_gates_at_all(auditor):
    response = logged_in(auditor).get("/dashboard/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "No decisions in this period" in page and "No breaches in this period" in page
    assert "No decisions by people in this period." in page
    assert not re.search(r"\b(nan|inf)\b", page, re.IGNORECASE)  # no division by zero reached the SVG


# --- chart geometry ---------------------------------------------------------------------------


def _chart(**series: list[int]):
    labels = [f"day {i}" for i in range(len(next(iter(series.values()))))]
    return column_chart(title="t", desc="d", labels=labels, series=series)


def test_column_heights_are_proportional_to_the_values():
    chart = _chart(human=[1, 2, 4])

    heights = [column.segments[0].height for column in chart.columns]
    assert heights[1] == pytest.approx(2 * heights[0], abs=0.2)
    assert heights[2] == pytest.approx(4 * heights[0], abs=0.2)
    # The axis tops out at 4, so the largest column fills the plot and stands on the baseline.
    tallest = chart.columns[2].segments[0]
    assert tallest.height == chart.plot_height and tallest.y + tallest.height == chart.baseline


def test_stacked_segments_sit_on_each_other_in_series_order():
    chart = _chart(human=[3], system=[1])

    human, system = chart.columns[0].segments
    assert (human.series, system.series) == ("human", "system")
    assert human.y + human.height == chart.baseline
    assert system.y + system.height == pytest.approx(human.y, abs=0.1)
    assert human.height == pytest.approx(3 * system.height, abs=0.2)


def test_an_all_zero_series_draws_an_axis_and_no_bars():
    chart = _chart(human=[0, 0, 0], system=[0, 0, 0])

    assert chart.empty
    assert all(column.segments == [] for column in chart.columns)
    assert [t.value for t in chart.ticks] == [0, 1]
    assert len(chart.columns) == 3


def test_no_labels_at_all_draw_nothing_without_dividing_by_zero():
    chart = column_chart(title="t", desc="d", labels=[], series={"human": []})
    assert chart.columns == [] and chart.x_labels == [] and chart.empty


def test_a_series_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError):
        column_chart(title="t", desc="d", labels=["a", "b"], series={"human": [1]})


def test_day_labels_are_thinned_out_but_today_is_always_labelled():
    chart = _chart(human=[1] * 30)

    assert 1 < len(chart.x_labels) <= MAX_X_LABELS
    assert chart.x_labels[-1].text == "day 29"
    assert chart.x_labels[-1].x == pytest.approx(
        chart.columns[-1].slot_x + chart.columns[-1].slot_width / 2, abs=0.1
    )


@pytest.mark.parametrize(
    ("largest", "top", "step"),
    [(0, 1, 1), (1, 1, 1), (3, 3, 1), (7, 8, 2), (10, 10, 5), (37, 40, 10), (100, 100, 50), (999, 1000, 500)],
)
def test_the_count_axis_has_round_steps(largest, top, step):
    assert nice_scale(largest) == (top, step)


def test_horizontal_bars_are_proportional_and_a_missing_share_draws_no_bar():
    chart = bar_rows(
        title="t", desc="d", rows=[("a", 1.0, "100 %"), ("b", 0.25, "25 %"), ("c", None, "none")]
    )

    full, quarter, missing = chart.rows
    assert full.bar_width == chart.plot_width
    assert quarter.bar_width == pytest.approx(chart.plot_width / 4, abs=0.1)
    assert (missing.share, missing.bar_width) == (None, 0)
    # Each name sits above its own bar, rows stacked without overlapping, all inside the chart.
    for upper, lower in [(full, quarter), (quarter, missing)]:
        assert upper.label_y < upper.y < upper.y + chart.bar_height < lower.label_y
    assert missing.y + chart.bar_height <= chart.height
    assert chart.text_x > chart.plot_width


def test_no_rows_draw_an_empty_chart():
    chart = bar_rows(title="t", desc="d", rows=[])
    assert chart.rows == [] and chart.height > 0


def test_shares_outside_zero_to_one_are_clamped():
    chart = bar_rows(title="t", desc="d", rows=[("a", 1.5, ""), ("b", -0.2, "")])
    assert [r.bar_width for r in chart.rows] == [chart.plot_width, 0]


def test_dashboard_charts_fit_their_viewbox(loan_and_compliance_gates, auditor):
    charts = dashboard_charts(dashboard_stats(user=auditor, days=90))

    for chart in (charts.decisions, charts.breaches):
        assert len(chart.columns) == 90 and chart.height == COLUMN_HEIGHT
        for column in chart.columns:
            assert chart.left <= column.slot_x and column.slot_x + column.slot_width <= chart.right + 0.1
            for segment in column.segments:
                assert chart.top - 0.1 <= segment.y and segment.y + segment.height <= chart.baseline + 0.1
    assert [row.label for row in charts.agreement.rows] == [
        "Loan application pre-screening",
        "Regulatory document review",
    ]

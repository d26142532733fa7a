from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from reviewer_portal.accounts.roles import can_audit, reviewer_roles_of
from reviewer_portal.dashboard.charts import dashboard_charts
from reviewer_portal.dashboard.forms import DEFAULT_DAYS, DashboardFilterForm
from reviewer_portal.dashboard.selectors import dashboard_agents_for, dashboard_stats


@require_GET
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not (reviewer_roles_of(user) or can_audit(user)):
        raise PermissionDenied("The dashboard is for reviewers and auditors.")
    data = request.GET.copy()
    data.setdefault("days", str(DEFAULT_DAYS))
    form = DashboardFilterForm(data, agents=dashboard_agents_for(user=user))
    # A bad value is reported with a 400; the valid filters still apply, so the page stays useful.
    status = 200 if form.is_valid() else 400
    stats = dashboard_stats(
        user=user,
        days=form.cleaned_data.get("days") or DEFAULT_DAYS,
        agent=form.cleaned_data.get("agent") or None,
    )
    context = {"form": form, "stats": stats, "charts": dashboard_charts(stats)}
    return render(request, "dashboard/index.html", context, status=status)

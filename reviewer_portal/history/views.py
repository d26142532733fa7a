"""A reviewer's own history: "My decisions" and "My submissions"."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from reviewer_portal.history.selectors import decisions_page_for, submissions_page_for


@require_GET
@login_required
def my_decisions(request: HttpRequest) -> HttpResponse:
    page, rows = decisions_page_for(user=request.user, page_number=request.GET.get("page"))
    return render(request, "history/decisions.html", {"page": page, "rows": rows})


@require_GET
@login_required
def my_submissions(request: HttpRequest) -> HttpResponse:
    page, rows = submissions_page_for(user=request.user, page_number=request.GET.get("page"))
    return render(request, "history/submissions.html", {"page": page, "rows": rows})

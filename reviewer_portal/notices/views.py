"""The signed-in user's notifications: the list, the bell's count, and marking them read."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from reviewer_portal.htmx_request import HtmxHttpRequest
from reviewer_portal.notices.selectors import notifications_for, unread_count_for
from reviewer_portal.notices.services import MAX_IDS, notifications_mark_read

# What the page's script listens for to re-read the bell after a mark-read.
CHANGED_EVENT = "notices-changed"


@require_GET
@login_required
def notification_list(request: HtmxHttpRequest) -> HttpResponse:
    return _list(request, status=200)


@require_GET
@login_required
def notification_count(request: HtmxHttpRequest) -> HttpResponse:
    """The bell's count, which the page re-reads on a push (or its poll, while the socket is down)."""
    return render(request, "notices/_count.html", {"unread": unread_count_for(user=request.user)})


@require_POST
@login_required
def notification_mark_read(request: HtmxHttpRequest) -> HttpResponse:
    raw = request.POST.getlist("id")
    if len(raw) > MAX_IDS or not all(_is_id(value) for value in raw):
        return _list(request, status=400, error=f"Name at most {MAX_IDS} notifications, by their numbers.")
    marked = notifications_mark_read(user=request.user, ids=[int(v) for v in raw], all="all" in request.POST)
    if not request.htmx:
        return redirect("notices:list")
    response = _list(request, status=200)
    return trigger_client_event(response, CHANGED_EVENT) if marked else response


def _list(request: HtmxHttpRequest, *, status: int, error: str = "") -> HttpResponse:
    page = notifications_for(user=request.user, page_number=request.GET.get("page"))
    context = {"page": page, "unread": unread_count_for(user=request.user), "error": error}
    template = "notices/list.html#notice-list" if request.htmx else "notices/list.html"
    return render(request, template, context, status=status)


def _is_id(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 18

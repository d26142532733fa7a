"""The inbox: the reviewer's queues with filters, and bulk decisions on low-risk gates. The gate
page and its actions are in reviewer_portal.inbox.gate_views."""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.cache import cache, caches
from django.db import connection
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_POST

from reviewer_portal.accounts.roles import can_audit, reviewer_roles_of
from reviewer_portal.htmx_request import HtmxHttpRequest
from reviewer_portal.inbox.bulk import BulkDecisionForm
from reviewer_portal.inbox.bulk_decisions import CHANGED_SINCE_SHOWN, gates_decide_in_bulk
from reviewer_portal.inbox.filters import PAGE_SIZE, CountedPaginator, InboxFilterForm, without_empty_params
from reviewer_portal.inbox.freshness import CLOCK_SECONDS, QUERY_CACHE, Freshness, freshness_for
from reviewer_portal.inbox.own_cases import own_cases_for, own_pending
from reviewer_portal.inbox.rows import rendered_rows
from reviewer_portal.inbox.selectors import gate_rows_for, inbox_queues_for

FILTER_FIELDS_SECONDS = 600
BULK_FIELDS_KEY = "inbox-bulk-fields"


@require_GET
@login_required
def inbox(request: HtmxHttpRequest) -> HttpResponse:
    if can_audit(request.user) and not reviewer_roles_of(request.user):
        return redirect("audit:index")  # an auditor decides nothing: their home is the runs' index
    if (canonical := without_empty_params(request.GET)) is not None:
        # A submitted filter form sends every field: keep the shared URL to the ones that narrow.
        return redirect(f"{request.path}?{canonical.urlencode()}" if canonical else request.path)
    freshness = freshness_for(user=request.user, roles=reviewer_roles_of(request.user))
    tag = freshness.tag(request.GET.urlencode())
    if request.htmx and request.headers.get("If-None-Match") == tag:
        # The table the page shows is still what it would get: htmx leaves it (no swap on 204).
        return HttpResponse(status=204, headers={"ETag": tag})
    context, status = _inbox_context(request, freshness, inbox_version=tag)
    if request.htmx:
        return HttpResponse(context["gate_table"], status=status)
    context["filter_fields"] = _filter_fields(request, context["filter_form"])
    return render(request, "inbox/inbox.html", _with_page_parts(request, freshness, context), status=status)


@require_POST
@login_required
def gates_bulk_decide_view(request: HtmxHttpRequest) -> HttpResponse:
    """Decide the selected low-risk gates at once; the inbox's filters ride in the query string."""
    form = BulkDecisionForm(request.POST)
    outcomes = []
    if form.is_valid():
        outcomes = gates_decide_in_bulk(
            user=request.user,
            gate_ids=form.cleaned_data["gate_ids"],
            decision=form.cleaned_data["decision"],
            reason=form.reason(),
            submission_id=str(form.cleaned_data["submission_id"]),
            shown=form.shown_versions(request.POST),
        )
        form = BulkDecisionForm(initial={"submission_id": uuid.uuid4()})
    status = 200 if not form.errors else 400
    results = {"bulk_form": form, "bulk_outcomes": outcomes}
    if request.htmx:
        response = render(request, "inbox/inbox.html#bulk-results", results, status=status)
        if any(outcome.attempt or outcome.refusal == CHANGED_SINCE_SHOWN for outcome in outcomes):
            response["HX-Trigger"] = "gates-changed"  # the gate table and queue counts reload
        return response
    if form.errors:
        results["selected"] = set(request.POST.getlist("gate_ids"))
    freshness = freshness_for(user=request.user, roles=reviewer_roles_of(request.user))
    context, _ = _inbox_context(request, freshness, **results)
    return render(request, "inbox/inbox.html", _with_page_parts(request, freshness, context), status=status)


def _inbox_context(
    request: HtmxHttpRequest, freshness: Freshness, inbox_version: str = "", **extra: Any
) -> tuple[dict[str, Any], int]:
    """The inbox for the filters in the query string, and the HTTP status they earn. The counts
    are read again only after the projection changed (see reviewer_portal.inbox.freshness)."""
    form = InboxFilterForm(request.GET)
    valid = form.is_valid()
    filters = form.filters()
    queues = freshness.cached("queues", lambda: inbox_queues_for(user=request.user))
    forbidden = bool(filters.queue) and filters.queue not in {q.key for q in queues}
    context = {
        "filter_form": form,
        "filters": filters,
        "queues": queues,
        "forbidden_queue": forbidden,
        "inbox_version": inbox_version,
        **extra,
    }
    context["gate_table"], context["has_rows"] = _gate_table(request, freshness, context)
    return context, 403 if forbidden else 200 if valid else 400


def _gate_table(
    request: HtmxHttpRequest, freshness: Freshness, context: dict[str, Any]
) -> tuple[SafeString, bool]:
    """The gate table's HTML, and whether it lists a gate. Its tag (the ETag a poll sends back)
    stands for all it shows: the user, their roles' versions, the projection's newest write, the
    query string and the minute (reviewer_portal.inbox.freshness). So the table made for a tag is
    kept, and a page or poll of the same tag gets it without reading a row again: no fresher than
    the "nothing changed" answer a poll of that tag gets, and never after a change."""
    selected = context.get("selected", set())
    key = ""
    if context["inbox_version"] and not selected:
        parts = [str(connection.settings_dict["NAME"]), context["inbox_version"], str(bool(request.htmx))]
        # An auditor's empty inbox points to the audit pages: words the tag's roles do not decide.
        parts.append(str(can_audit(request.user)))
        key = "inbox-table:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
        if (held := caches[QUERY_CACHE].get(key)) is not None:
            return mark_safe(held[0]), held[1]
    filters = context["filters"]
    gates = gate_rows_for(user=request.user, filters=filters)
    # The SLA filters move with the clock: their count is kept for a minute at most.
    clock = f"@{int(time.time() // CLOCK_SECONDS)}" if filters.sla else ""
    count = freshness.cached(f"count:{filters!r}{clock}", gates.count, per_query=True)
    page_number = context["filter_form"].cleaned_data.get("page")
    page = CountedPaginator(gates, PAGE_SIZE, count=count).get_page(page_number)
    rows = rendered_rows(page.object_list, selected)
    table = {**context, "page": page, "rows": rows}
    html = render_to_string("inbox/inbox.html#gate-table", table, request=request)
    if key:
        caches[QUERY_CACHE].set(key, (html, bool(rows)), timeout=CLOCK_SECONDS)
    return mark_safe(html), bool(rows)


def _with_page_parts(
    request: HtmxHttpRequest, freshness: Freshness, context: dict[str, Any]
) -> dict[str, Any]:
    """What the whole page shows around the gate table. A bulk decision's own page shows its
    form as posted (with its errors); any other shows the kept fields and a new submission id."""
    # Which pending gates are the user's own changes only with the projection: kept like the counts.
    pending = freshness.cached("own-pending", lambda: own_pending(request.user))
    parts = {**context, "awaiting_others": own_cases_for(user=request.user, pending=pending)}
    if "bulk_form" not in context:
        parts["bulk_fields"], parts["submission_id"] = _bulk_fields(), str(uuid.uuid4())
    return parts


def _bulk_fields() -> SafeString:
    """The bulk form's fields but its submission id, before anything is posted: the same HTML on
    every page."""
    fields = cache.get(BULK_FIELDS_KEY)
    if fields is None:
        fields = render_to_string("inbox/inbox.html#bulk-fields", {"bulk_form": BulkDecisionForm()})
        cache.set(BULK_FIELDS_KEY, fields, timeout=FILTER_FIELDS_SECONDS)
    return mark_safe(fields)


def _filter_fields(request: HtmxHttpRequest, form: InboxFilterForm) -> str:
    """The filter form's fields as HTML: a third of the page's rendering, and the same for the
    same query string (its values and errors; the choices come from code), so each process keeps
    it a while."""
    key = "inbox-filter-fields:" + hashlib.sha256(request.GET.urlencode().encode()).hexdigest()
    per_query = caches[QUERY_CACHE]  # made-up query strings never evict the shared rows and counts
    fields = per_query.get(key)
    if fields is None:
        fields = render_to_string("inbox/inbox.html#filter-fields", {"filter_form": form})
        per_query.set(key, fields, timeout=FILTER_FIELDS_SECONDS)
    return mark_safe(fields)

"""The gate page and the actions on it: withdraw a queued decision, annotate (deciding is in
decide_views, claims and assignments in assignment_views). Each action is recorded, signed and sent as a Temporal Update by
reviewer_portal.inbox.services; these views only choose what to render."""

from __future__ import annotations

import re
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from reviewer_portal.htmx_request import HtmxHttpRequest
from reviewer_portal.inbox.delivery import ActionConflict, action_withdraw
from reviewer_portal.inbox.forms import AnnotationForm
from reviewer_portal.inbox.gate_context import (
    changed_out_of_band,
    decision_response,
    gate_context,
    panel_context,
)
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.outcomes import LEVEL, outcome_text
from reviewer_portal.inbox.permissions import gate_permissions_for
from reviewer_portal.inbox.seen import SHOWN_MAX_LENGTH, changed_since_shown, seen_of
from reviewer_portal.inbox.selectors import gate_get_for
from reviewer_portal.inbox.services import gate_annotate

Status = ActionAttempt.Status
# decide:<gate id>:<uuid>, as reviewer_portal.inbox.delivery.action_record makes them.
ACTION_ID = re.compile(r"(decide|annotate|assign):[A-Za-z0-9_.:-]{1,200}:[0-9a-f-]{36}")


@require_GET
@login_required
def gate_detail(request: HtmxHttpRequest, gate_id: str) -> HttpResponse:
    gate = gate_get_for(user=request.user, gate_id=gate_id)
    if request.htmx and request.GET.get("wait") == "revision":
        # The page polls while the agent revises: nothing to swap until the gate reopens.
        if gate.status == Gate.Status.CHANGES_REQUESTED:
            return HttpResponse(status=204)
        context = gate_context(request, gate, confirmation="The agent is back with a revised recommendation.")
        return render(request, "inbox/gate.html#workspace", context)
    if request.htmx and request.GET.get("panel") == "decision":
        # A live update said the gate changed: the panel re-reads itself, with what the page
        # showed (its form's `shown`), and what changed beside it comes along.
        response = render(request, "inbox/gate.html#decision-panel", panel_context(request, gate))
        shown = request.GET.get("shown", "")[:SHOWN_MAX_LENGTH]
        changed = changed_since_shown(seen_of(gate, reviewer_id=request.user.pk), shown)
        response.content += changed_out_of_band(request, gate, changed).encode()
        return response
    return render(request, "inbox/gate.html", gate_context(request, gate))


@require_POST
@login_required
def gate_withdraw_view(request: HtmxHttpRequest, gate_id: str) -> HttpResponse:
    """Withdraw the reviewer's own decision that is still waiting to be delivered."""
    gate = gate_get_for(user=request.user, gate_id=gate_id)
    action_id = request.POST.get("action_id", "")
    attempt = None
    if ACTION_ID.fullmatch(action_id):
        attempt = ActionAttempt.objects.filter(gate=gate, reviewer=request.user, action_id=action_id).first()
    if attempt is None:
        raise Http404("No such decision of yours on this gate.")
    attempt = action_withdraw(attempt=attempt, reviewer=request.user)
    notice = "" if attempt.status in (Status.WITHDRAWING, Status.WITHDRAWN) else _not_withdrawn(attempt)
    if not request.htmx:
        messages.add_message(
            request, messages.ERROR if notice else messages.SUCCESS, notice or outcome_text(attempt)
        )
        return redirect("inbox:gate", gate_id=gate.gate_id)
    gate.refresh_from_db()
    return decision_response(request, gate, attempt=attempt, notice=notice, status=409 if notice else 200)


def _not_withdrawn(attempt: ActionAttempt) -> str:
    if attempt.status == Status.SENDING:
        return "It is being sent right now; wait a moment for the agent's answer, then try again."
    return f"It can no longer be withdrawn: {outcome_text(attempt)}"


@require_POST
@login_required
def gate_annotate_view(request: HtmxHttpRequest, gate_id: str) -> HttpResponse:
    gate = gate_get_for(user=request.user, gate_id=gate_id)
    if not gate_permissions_for(user=request.user, gate=gate).annotate:
        return _annotations_response(request, gate, status=403, error="Only this gate's reviewers add notes.")
    form = AnnotationForm(request.POST)
    if not form.is_valid():
        return _annotations_response(request, gate, status=400, form=form)
    try:
        attempt = gate_annotate(
            gate=gate,
            reviewer=request.user,
            text=form.cleaned_data["text"],
            submission_id=str(form.cleaned_data["submission_id"]),
        )
    except (PermissionError, ActionConflict) as err:
        return _annotations_response(request, gate, status=409, error=str(err))
    accepted = attempt.status == Status.ACCEPTED
    message = "Note added." if accepted else outcome_text(attempt)
    if not request.htmx:
        messages.add_message(request, LEVEL.get(attempt.status, messages.INFO), message)
        return redirect("inbox:gate", gate_id=gate.gate_id)
    gate.refresh_from_db()
    if attempt.status == Status.REFUSED:
        # Keep what they wrote (with a fresh id, so the retry is a new action).
        retry = AnnotationForm(initial={"text": form.cleaned_data["text"], "submission_id": uuid.uuid4()})
        return _annotations_response(request, gate, form=retry, error=message)
    return _annotations_response(request, gate, notice=message)


def _annotations_response(
    request: HtmxHttpRequest,
    gate: Gate,
    *,
    status: int = 200,
    form: AnnotationForm | None = None,
    error: str = "",
    notice: str = "",
) -> HttpResponse:
    context = gate_context(request, gate)
    context.update(annotation_error=error, annotation_notice=notice)
    if form is not None:
        context["annotation_form"] = form
    template = "inbox/gate.html#annotations" if request.htmx else "inbox/gate.html"
    return render(request, template, context, status=status)

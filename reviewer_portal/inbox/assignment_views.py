"""Claim, release and assign a gate from its page: each the `assign` Update, signed and delivered
like a decision (reviewer_portal.inbox.services.gate_assign)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from reviewer_portal.htmx_request import HtmxHttpRequest
from reviewer_portal.inbox.delivery import ActionConflict
from reviewer_portal.inbox.forms import AssignForm, ClaimForm
from reviewer_portal.inbox.gate_context import assign_form_for, decision_response
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.outcomes import LEVEL, outcome_text
from reviewer_portal.inbox.permissions import gate_permissions_for
from reviewer_portal.inbox.selectors import gate_assignees_for, gate_get_for
from reviewer_portal.inbox.services import assignment_message, gate_assign
from reviewer_portal.team.absences import absent_claim_refusal

Status = ActionAttempt.Status


@require_POST
@login_required
def gate_claim_view(request: HtmxHttpRequest, gate_id: str) -> HttpResponse:
    gate = gate_get_for(user=request.user, gate_id=gate_id)
    return _assignment_response(request, gate, ClaimForm(request.POST), assignee=request.user)


@require_POST
@login_required
def gate_unclaim_view(request: HtmxHttpRequest, gate_id: str) -> HttpResponse:
    gate = gate_get_for(user=request.user, gate_id=gate_id)
    return _assignment_response(request, gate, ClaimForm(request.POST), assignee=None)


@require_POST
@login_required
def gate_assign_view(request: HtmxHttpRequest, gate_id: str) -> HttpResponse:
    gate = gate_get_for(user=request.user, gate_id=gate_id)
    form = assign_form_for(request, gate, request.POST)
    assignee = None
    if form.is_valid():
        assignee = gate_assignees_for(gate=gate).filter(username=form.cleaned_data["assignee"]).first()
        if assignee is None:  # deactivated, or given the gate's case, since the form was drawn
            form.add_error("assignee", "That colleague can no longer take this gate.")
    return _assignment_response(request, gate, form, assignee=assignee)


def _assignment_response(
    request: HtmxHttpRequest, gate: Gate, form: ClaimForm, *, assignee: Any
) -> HttpResponse:
    """Send a valid claim / release / assignment to the workflow; answer with the decision panel."""
    if not gate_permissions_for(user=request.user, gate=gate).assign:
        notice = "This gate is no longer open to claiming or assignment by your roles."
        return decision_response(request, gate, status=409, notice=notice)
    if not form.is_valid():
        extra = {"assign_form": form} if isinstance(form, AssignForm) else {}
        return decision_response(request, gate, status=400, notice="That form was not valid.", **extra)
    if (
        assignee is not None
        and assignee.pk == request.user.pk
        and (away := absent_claim_refusal(request.user))
    ):
        return decision_response(request, gate, status=409, notice=away)
    try:
        attempt = gate_assign(
            gate=gate,
            reviewer=request.user,
            assignee=assignee,
            submission_id=str(form.cleaned_data["submission_id"]),
        )
    except (PermissionError, ActionConflict) as err:
        return decision_response(request, gate, status=409, notice=str(err))
    accepted = attempt.status == Status.ACCEPTED
    message = assignment_message(attempt) if accepted else outcome_text(attempt)
    if attempt.status == Status.REFUSED:
        message = attempt.detail
    if not request.htmx:
        messages.add_message(request, LEVEL.get(attempt.status, messages.INFO), message)
        return redirect("inbox:gate", gate_id=gate.gate_id)
    gate.refresh_from_db()
    if accepted:
        return decision_response(request, gate, confirmation=message)
    return decision_response(request, gate, notice=message)

"""The gate page and the actions on it: decide, withdraw a queued decision, annotate, claim,
release and assign. Each action is recorded, signed and sent as a Temporal Update by
reviewer_portal.inbox.services; these views only choose what to render."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from reviewer_portal.accounts.roles import reviewer_roles_of
from reviewer_portal.inbox.delivery import ActionConflict, action_withdraw
from reviewer_portal.inbox.forms import AnnotationForm, AssignForm, ClaimForm, DecisionForm
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.outcomes import LEVEL, action_noun, outcome_text
from reviewer_portal.inbox.selectors import (
    action_attempts_for,
    gate_assignees_for,
    gate_get_for,
    gate_is_supervised_by,
    gate_may_annotate,
    gate_may_assign,
    gate_may_decide,
    gate_neighbours_for,
    is_person,
    open_decision_of,
)
from reviewer_portal.inbox.services import assignment_message, gate_annotate, gate_assign, gate_decide

Status = ActionAttempt.Status


@require_GET
@login_required
def gate_detail(request: HttpRequest, gate_id: str) -> HttpResponse:
    gate = gate_get_for(user=request.user, gate_id=gate_id)
    if request.htmx and request.GET.get("wait") == "revision":
        # The page polls while the agent revises: nothing to swap until the gate reopens.
        if gate.status == Gate.Status.CHANGES_REQUESTED:
            return HttpResponse(status=204)
        context = _gate_context(
            request, gate, confirmation="The agent is back with a revised recommendation."
        )
        return render(request, "inbox/gate.html#workspace", context)
    if request.htmx and request.GET.get("panel") == "decision":
        # A live update said the gate changed: the panel re-reads itself.
        return render(request, "inbox/gate.html#decision-panel", _gate_context(request, gate))
    return render(request, "inbox/gate.html", _gate_context(request, gate))


@require_POST
@login_required
def gate_decide_view(request: HttpRequest, gate_id: str) -> HttpResponse:
    gate = gate_get_for(user=request.user, gate_id=gate_id)
    if not gate_may_decide(user=request.user, gate=gate):
        notice = "This gate is no longer waiting for a decision from your role."
        return _decision_response(request, gate, status=409, notice=notice)
    form = DecisionForm(request.POST, editable=gate.editable, proposal=gate.proposal)
    if not form.is_valid():
        return _decision_response(request, gate, status=400, form=form)
    try:
        attempt = gate_decide(
            gate=gate,
            reviewer=request.user,
            decision=form.cleaned_data["decision"],
            reason=form.cleaned_data["reason"],
            submission_id=str(form.cleaned_data["submission_id"]),
            edits=form.edits(),
        )
    except PermissionError as err:
        return _decision_response(request, gate, status=403, notice=str(err))
    except ActionConflict as err:
        return _decision_response(request, gate, status=409, notice=str(err))
    if not request.htmx:
        messages.add_message(request, LEVEL.get(attempt.status, messages.INFO), outcome_text(attempt))
        return redirect("inbox:gate", gate_id=gate.gate_id)
    gate.refresh_from_db()
    if attempt.status == Status.ACCEPTED:
        # The gate changed beyond the panel (an edit's diff; after a change request, maybe already
        # the agent's new recommendation): redraw all of the workspace.
        response = render(request, "inbox/gate.html#workspace", _gate_context(request, gate, attempt=attempt))
        return reswap(retarget(response, "#gate-workspace"), "outerHTML")
    return _decision_response(request, gate, attempt=attempt)


@require_POST
@login_required
def gate_withdraw_view(request: HttpRequest, gate_id: str) -> HttpResponse:
    """Withdraw the reviewer's own decision that is still waiting to be delivered."""
    gate = gate_get_for(user=request.user, gate_id=gate_id)
    attempt = ActionAttempt.objects.filter(
        gate=gate, reviewer=request.user, action_id=request.POST.get("action_id", "")
    ).first()
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
    return _decision_response(request, gate, attempt=attempt, notice=notice, status=409 if notice else 200)


def _not_withdrawn(attempt: ActionAttempt) -> str:
    if attempt.status == Status.SENDING:
        return "It is being sent right now; wait a moment for the agent's answer, then try again."
    return f"It can no longer be withdrawn: {outcome_text(attempt)}"


def _decision_response(request: HttpRequest, gate: Gate, *, status: int = 200, **extra: Any) -> HttpResponse:
    template = "inbox/gate.html#decision-panel" if request.htmx else "inbox/gate.html"
    return render(request, template, _gate_context(request, gate, **extra), status=status)


def _gate_context(
    request: HttpRequest,
    gate: Gate,
    *,
    form: DecisionForm | None = None,
    attempt: ActionAttempt | None = None,
    notice: str = "",
    assign_form: AssignForm | None = None,
    confirmation: str = "",
) -> dict[str, Any]:
    queued = open_decision_of(user=request.user, gate=gate)
    if attempt is not None and attempt.pk == getattr(queued, "pk", None):
        attempt = None  # the queued panel below says it all
    return {
        "gate": gate,
        "form": form or _next_form(gate, attempt),
        "annotation_form": AnnotationForm(initial={"submission_id": uuid.uuid4()}),
        "may_decide": gate_may_decide(user=request.user, gate=gate),
        "may_annotate": gate_may_annotate(user=request.user, gate=gate),
        "queued": queued,
        "queued_text": outcome_text(queued) if queued else "",
        "queued_noun": action_noun(queued) if queued else "",
        "attempt": attempt,
        "outcome_text": outcome_text(attempt) if attempt else "",
        "attempts": list(action_attempts_for(gate=gate)),
        "notice": notice,
        **_workspace_context(request, gate, assign_form=assign_form, confirmation=confirmation),
    }


def _workspace_context(
    request: HttpRequest, gate: Gate, *, assign_form: AssignForm | None, confirmation: str
) -> dict[str, Any]:
    """Who holds the gate and what the user may do about it; the neighbours in their queue."""
    user = request.user
    holds = bool(gate.assignee) and is_person(user, gate.assignee, gate.assignee_id)
    previous, following = gate_neighbours_for(user=user, gate=gate)
    return {
        "holds_gate": holds,
        # Someone else holds the gate: only they decide it (the workflow refuses anyone else).
        "held_by_other": bool(gate.assignee) and not holds,
        "may_assign": gate_may_assign(user=user, gate=gate),
        "may_claim": gate.role in reviewer_roles_of(user)
        and not is_person(user, gate.submitted_by, gate.submitted_by_id),
        "supervises": gate_is_supervised_by(user=user, gate=gate),
        "claim_form": ClaimForm(initial={"submission_id": uuid.uuid4()}, auto_id="claim_%s"),
        "assign_form": assign_form or _assign_form(request, gate),
        "confirmation": confirmation,
        "prev_gate_url": reverse("inbox:gate", args=[previous.gate_id]) if previous else "",
        "next_gate_url": reverse("inbox:gate", args=[following.gate_id]) if following else "",
    }


def _next_form(gate: Gate, attempt: ActionAttempt | None) -> DecisionForm:
    """A fresh form with a new submission id (a new decision is a new action); a refused one keeps
    the reviewer's reason and edits, so nothing they typed is lost."""
    initial: dict[str, Any] = {"submission_id": uuid.uuid4()}
    if (
        attempt is not None
        and attempt.action == ActionAttempt.Action.DECIDE
        and attempt.status == Status.REFUSED
    ):
        initial.update(DecisionForm.initial_reason(attempt.decision, attempt.reason))
        initial.update({f"edit_{k}": v for k, v in attempt.edits.items()})
    return DecisionForm(initial=initial, editable=gate.editable, proposal=gate.proposal)


@require_POST
@login_required
def gate_annotate_view(request: HttpRequest, gate_id: str) -> HttpResponse:
    gate = gate_get_for(user=request.user, gate_id=gate_id)
    if not gate_may_annotate(user=request.user, gate=gate):
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
    request: HttpRequest,
    gate: Gate,
    *,
    status: int = 200,
    form: AnnotationForm | None = None,
    error: str = "",
    notice: str = "",
) -> HttpResponse:
    context = _gate_context(request, gate)
    context.update(annotation_error=error, annotation_notice=notice)
    if form is not None:
        context["annotation_form"] = form
    template = "inbox/gate.html#annotations" if request.htmx else "inbox/gate.html"
    return render(request, template, context, status=status)


# --- claim, release, assign: the `assign` Update ---------------------------------------------------


@require_POST
@login_required
def gate_claim_view(request: HttpRequest, gate_id: str) -> HttpResponse:
    gate = gate_get_for(user=request.user, gate_id=gate_id)
    return _assignment_response(request, gate, ClaimForm(request.POST), assignee=request.user)


@require_POST
@login_required
def gate_unclaim_view(request: HttpRequest, gate_id: str) -> HttpResponse:
    gate = gate_get_for(user=request.user, gate_id=gate_id)
    return _assignment_response(request, gate, ClaimForm(request.POST), assignee=None)


@require_POST
@login_required
def gate_assign_view(request: HttpRequest, gate_id: str) -> HttpResponse:
    gate = gate_get_for(user=request.user, gate_id=gate_id)
    form = _assign_form(request, gate, request.POST)
    assignee = None
    if form.is_valid():
        assignee = gate_assignees_for(gate=gate).get(username=form.cleaned_data["assignee"])
    return _assignment_response(request, gate, form, assignee=assignee)


def _assign_form(request: HttpRequest, gate: Gate, data: Any = None) -> AssignForm:
    """Colleagues to hand the gate to (the reviewer themselves claims it instead)."""
    colleagues = gate_assignees_for(gate=gate).exclude(pk=request.user.pk)
    choices = [(u.get_username(), _user_label(u)) for u in colleagues]
    return AssignForm(data, initial={"submission_id": uuid.uuid4()}, assignees=choices, auto_id="assign_%s")


def _user_label(user: Any) -> str:
    full = user.get_full_name()
    return f"{full} ({user.get_username()})" if full else user.get_username()


def _assignment_response(request: HttpRequest, gate: Gate, form: ClaimForm, *, assignee: Any) -> HttpResponse:
    """Send a valid claim / release / assignment to the workflow; answer with the decision panel."""
    if not gate_may_assign(user=request.user, gate=gate):
        notice = "This gate is no longer open to claiming or assignment by your roles."
        return _decision_response(request, gate, status=409, notice=notice)
    if not form.is_valid():
        extra = {"assign_form": form} if isinstance(form, AssignForm) else {}
        return _decision_response(request, gate, status=400, notice="That form was not valid.", **extra)
    try:
        attempt = gate_assign(
            gate=gate,
            reviewer=request.user,
            assignee=assignee,
            submission_id=str(form.cleaned_data["submission_id"]),
        )
    except (PermissionError, ActionConflict) as err:
        return _decision_response(request, gate, status=409, notice=str(err))
    accepted = attempt.status == Status.ACCEPTED
    message = assignment_message(attempt) if accepted else outcome_text(attempt)
    if attempt.status == Status.REFUSED:
        message = attempt.detail
    if not request.htmx:
        messages.add_message(request, LEVEL.get(attempt.status, messages.INFO), message)
        return redirect("inbox:gate", gate_id=gate.gate_id)
    gate.refresh_from_db()
    if accepted:
        return _decision_response(request, gate, confirmation=message)
    return _decision_response(request, gate, notice=message)

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from reviewer_portal.accounts.roles import reviewer_roles_of
from reviewer_portal.inbox.bulk import BulkDecisionForm
from reviewer_portal.inbox.filters import PAGE_SIZE, InboxFilterForm, without_empty_params
from reviewer_portal.inbox.forms import AnnotationForm, AssignForm, ClaimForm, DecisionForm
from reviewer_portal.inbox.models import DecisionAttempt, Gate
from reviewer_portal.inbox.selectors import (
    decision_attempts_for,
    gate_assignees_for,
    gate_get_for,
    gate_is_supervised_by,
    gate_may_annotate,
    gate_may_assign,
    gate_may_decide,
    gate_neighbours_for,
    gate_rows_for,
    inbox_queues_for,
)
from reviewer_portal.inbox.services import gate_annotate, gate_assign, gate_decide, gates_decide_in_bulk

OUTCOME_LEVEL = {
    DecisionAttempt.Status.ACCEPTED: messages.SUCCESS,
    DecisionAttempt.Status.REFUSED: messages.ERROR,
    DecisionAttempt.Status.UNDELIVERED: messages.WARNING,
}


@require_GET
@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    if (canonical := without_empty_params(request.GET)) is not None:
        # A submitted filter form sends every field: keep the shared URL to the ones that narrow.
        return redirect(f"{request.path}?{canonical.urlencode()}" if canonical else request.path)
    context, status = _inbox_context(request)
    template = "inbox/inbox.html#gate-table" if request.htmx else "inbox/inbox.html"
    return render(request, template, context, status=status)


@require_POST
@login_required
def gates_bulk_decide_view(request: HttpRequest) -> HttpResponse:
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
        )
        form = BulkDecisionForm(initial={"submission_id": uuid.uuid4()})
    status = 200 if not form.errors else 400
    results = {"bulk_form": form, "bulk_outcomes": outcomes}
    if request.htmx:
        response = render(request, "inbox/inbox.html#bulk-results", results, status=status)
        if any(outcome.attempt for outcome in outcomes):
            response["HX-Trigger"] = "gates-changed"  # the gate table and queue counts reload
        return response
    if form.errors:
        results["selected"] = set(request.POST.getlist("gate_ids"))
    context, _ = _inbox_context(request, **results)
    return render(request, "inbox/inbox.html", context, status=status)


def _inbox_context(request: HttpRequest, **extra: Any) -> tuple[dict[str, Any], int]:
    """The inbox for the filters in the query string, and the HTTP status they earn."""
    form = InboxFilterForm(request.GET)
    valid = form.is_valid()
    filters = form.filters()
    queues = inbox_queues_for(user=request.user)
    forbidden = bool(filters.queue) and filters.queue not in {q.key for q in queues}
    gates = gate_rows_for(user=request.user, filters=filters)
    page = Paginator(gates, PAGE_SIZE).get_page(form.cleaned_data.get("page"))
    context = {
        "filter_form": form,
        "filters": filters,
        "queues": queues,
        "forbidden_queue": forbidden,
        "page": page,
        "bulk_form": BulkDecisionForm(initial={"submission_id": uuid.uuid4()}),
        **extra,
    }
    return context, 403 if forbidden else 200 if valid else 400


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
    if not request.htmx:
        messages.add_message(
            request, OUTCOME_LEVEL.get(attempt.status, messages.INFO), _outcome_text(attempt)
        )
        return redirect("inbox:gate", gate_id=gate.gate_id)
    gate.refresh_from_db()
    if attempt.status == DecisionAttempt.Status.ACCEPTED:
        # The gate changed beyond the panel (an edit's diff; after a change request, maybe already
        # the agent's new recommendation): redraw all of the workspace.
        response = render(request, "inbox/gate.html#workspace", _gate_context(request, gate, attempt=attempt))
        return reswap(retarget(response, "#gate-workspace"), "outerHTML")
    return _decision_response(request, gate, attempt=attempt)


def _decision_response(request: HttpRequest, gate: Gate, *, status: int = 200, **extra: Any) -> HttpResponse:
    template = "inbox/gate.html#decision-panel" if request.htmx else "inbox/gate.html"
    return render(request, template, _gate_context(request, gate, **extra), status=status)


def _gate_context(
    request: HttpRequest,
    gate: Gate,
    *,
    form: DecisionForm | None = None,
    attempt: DecisionAttempt | None = None,
    notice: str = "",
    assign_form: AssignForm | None = None,
    confirmation: str = "",
) -> dict[str, Any]:
    attempts = list(decision_attempts_for(gate=gate))
    if attempt is None:
        # Show the reviewer's own decision that has not reached the workflow yet, to retry it.
        attempt = next(
            (a for a in attempts if a.reviewer_id == request.user.pk and a.status == a.Status.UNDELIVERED),
            None,
        )
    if form is None:
        form = _next_form(gate, attempt)
    return {
        "gate": gate,
        "form": form,
        "annotation_form": AnnotationForm(initial={"submission_id": uuid.uuid4()}),
        "may_decide": gate_may_decide(user=request.user, gate=gate),
        "may_annotate": gate_may_annotate(user=request.user, gate=gate),
        "attempt": attempt,
        "outcome_text": _outcome_text(attempt) if attempt else "",
        "attempts": attempts,
        "notice": notice,
        **_workspace_context(request, gate, assign_form=assign_form, confirmation=confirmation),
    }


def _workspace_context(
    request: HttpRequest, gate: Gate, *, assign_form: AssignForm | None, confirmation: str
) -> dict[str, Any]:
    """Who holds the gate and what the user may do about it; the neighbours in their queue."""
    username = request.user.get_username()
    previous, following = gate_neighbours_for(user=request.user, gate=gate)
    return {
        # Someone else holds the gate: only they decide it (the workflow refuses anyone else).
        "held_by_other": bool(gate.assignee) and gate.assignee != username,
        "may_assign": gate_may_assign(user=request.user, gate=gate),
        "may_claim": gate.role in reviewer_roles_of(request.user) and username != gate.submitted_by,
        "supervises": gate_is_supervised_by(user=request.user, gate=gate),
        "claim_form": ClaimForm(initial={"submission_id": uuid.uuid4()}, auto_id="claim_%s"),
        "assign_form": assign_form or _assign_form(request, gate),
        "confirmation": confirmation,
        "prev_gate_url": reverse("inbox:gate", args=[previous.gate_id]) if previous else "",
        "next_gate_url": reverse("inbox:gate", args=[following.gate_id]) if following else "",
    }


def _next_form(gate: Gate, attempt: DecisionAttempt | None) -> DecisionForm:
    """A fresh form; an undelivered decision keeps its id so retrying cannot apply it twice, and
    a refused one keeps the reviewer's reason and edits so nothing they typed is lost."""
    initial: dict[str, Any] = {"submission_id": uuid.uuid4()}
    kept = (DecisionAttempt.Status.UNDELIVERED, DecisionAttempt.Status.REFUSED)
    if attempt is not None and attempt.status in kept:
        initial.update(DecisionForm.initial_reason(attempt.decision, attempt.reason))
        initial.update({f"edit_{k}": v for k, v in attempt.edits.items()})
        if attempt.status == DecisionAttempt.Status.UNDELIVERED:
            initial["submission_id"] = attempt.update_id.rsplit(":", 1)[-1]
    return DecisionForm(initial=initial, editable=gate.editable, proposal=gate.proposal)


DECISION_NOUNS = {"approve": "Approval", "reject": "Rejection", "request_changes": "Change request"}


def _outcome_text(attempt: DecisionAttempt) -> str:
    verb = DECISION_NOUNS.get(attempt.decision, "Decision")
    if attempt.status == DecisionAttempt.Status.ACCEPTED:
        return f"{verb} recorded by the agent."
    if attempt.status == DecisionAttempt.Status.REFUSED:
        return f"{verb} refused: {attempt.detail}"
    return f"{verb} not delivered yet: {attempt.detail}"


@require_POST
@login_required
def gate_annotate_view(request: HttpRequest, gate_id: str) -> HttpResponse:
    gate = gate_get_for(user=request.user, gate_id=gate_id)
    if not gate_may_annotate(user=request.user, gate=gate):
        return _annotations_response(request, gate, status=403, error="Only this gate's reviewers add notes.")
    form = AnnotationForm(request.POST)
    if not form.is_valid():
        return _annotations_response(request, gate, status=400, form=form)
    outcome = gate_annotate(
        gate=gate,
        reviewer=request.user,
        text=form.cleaned_data["text"],
        submission_id=str(form.cleaned_data["submission_id"]),
    )
    if not request.htmx:
        messages.add_message(request, messages.SUCCESS if outcome.ok else messages.ERROR, outcome.message)
        return redirect("inbox:gate", gate_id=gate.gate_id)
    if not outcome.ok:
        # Keep what they wrote (with a fresh id, so the retry is a new Update).
        retry = AnnotationForm(initial={"text": form.cleaned_data["text"], "submission_id": uuid.uuid4()})
        return _annotations_response(request, gate, form=retry, error=outcome.message)
    gate.refresh_from_db()
    return _annotations_response(request, gate, notice=outcome.message)


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
    outcome = gate_assign(
        gate=gate,
        reviewer=request.user,
        assignee=assignee,
        submission_id=str(form.cleaned_data["submission_id"]),
    )
    if not request.htmx:
        messages.add_message(request, messages.SUCCESS if outcome.ok else messages.ERROR, outcome.message)
        return redirect("inbox:gate", gate_id=gate.gate_id)
    gate.refresh_from_db()
    if outcome.ok:
        return _decision_response(request, gate, confirmation=outcome.message)
    return _decision_response(request, gate, notice=outcome.message)

"""The team view: a supervisor's queues, who holds what and for how long, bulk reassignment and
release, and absences."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from reviewer_portal.team.forms import AbsenceForm, PresentForm, TeamActionForm
from reviewer_portal.team.models import Absence
from reviewer_portal.team.selectors import (
    absence_candidates_for,
    absences_recent,
    can_supervise,
    team_board_for,
)
from reviewer_portal.team.services import (
    REASSIGN,
    TeamRefusal,
    absence_end,
    absence_mark,
    gates_reassign,
    gates_unclaim,
)


def _supervisor_only(request: HttpRequest) -> None:
    if not can_supervise(user=request.user):
        raise PermissionDenied("The team view is for supervisors of a reviewer role.")


@require_GET
@login_required
def team(request: HttpRequest) -> HttpResponse:
    _supervisor_only(request)
    return render(request, "team/team.html", _context(request))


@require_POST
@login_required
def team_gates_view(request: HttpRequest) -> HttpResponse:
    """Reassign or release the selected gates of one queue; each gate's outcome is reported."""
    _supervisor_only(request)
    form = TeamActionForm(request.POST)
    if not form.is_valid():
        return _refused(request, [e for errors in form.errors.values() for e in errors])
    data = form.cleaned_data
    try:
        if data["action"] == REASSIGN:
            outcomes = gates_reassign(
                supervisor=request.user,
                role=data["role"],
                gate_ids=data["gate_ids"],
                assignee=data["assignee"],
                submission_id=str(data["submission_id"]),
            )
        else:
            outcomes = gates_unclaim(
                supervisor=request.user,
                role=data["role"],
                gate_ids=data["gate_ids"],
                submission_id=str(data["submission_id"]),
            )
    except TeamRefusal as err:
        return _refused(request, [str(err)])
    heading = "Reassigned" if data["action"] == REASSIGN else "Released"
    return render(request, "team/team.html", _context(request, outcomes=outcomes, outcome_heading=heading))


@require_POST
@login_required
def absence_mark_view(request: HttpRequest) -> HttpResponse:
    _supervisor_only(request)
    form = AbsenceForm(request.POST)
    if not form.is_valid():
        return _refused(request, [e for errors in form.errors.values() for e in errors], absence_form=form)
    reviewer = (
        absence_candidates_for(user=request.user).filter(username=form.cleaned_data["username"]).first()
    )
    try:
        if reviewer is None:
            raise TeamRefusal(f"{form.cleaned_data['username']!r} is not a reviewer of a team you supervise.")
        _absence, outcomes = absence_mark(
            user=reviewer,
            marked_by=request.user,
            reason=form.cleaned_data["reason"],
            until=form.until_moment(),
            submission_id=str(form.cleaned_data["submission_id"]),
        )
    except TeamRefusal as err:
        return _refused(request, [str(err)], absence_form=form)
    messages.success(request, f"{reviewer.get_username()} is marked absent.")
    heading = f"Claims of {reviewer.get_username()} released"
    return render(request, "team/team.html", _context(request, outcomes=outcomes, outcome_heading=heading))


@require_POST
@login_required
def absence_end_view(request: HttpRequest) -> HttpResponse:
    _supervisor_only(request)
    form = PresentForm(request.POST)
    absence = Absence.objects.filter(pk=form.cleaned_data["absence"]).first() if form.is_valid() else None
    try:
        if absence is None:
            raise TeamRefusal("No such absence.")
        absence_end(absence=absence, ended_by=request.user)
    except TeamRefusal as err:
        return _refused(request, [str(err)])
    messages.success(request, f"{absence.user.get_username()} is marked present again.")
    return redirect("team:index")


def _refused(request: HttpRequest, errors: list[str], **extra: Any) -> HttpResponse:
    """The team view again with why the request was refused; nothing was changed or sent."""
    return render(request, "team/team.html", _context(request, errors=errors, **extra), status=400)


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    candidates = absence_candidates_for(user=request.user)
    return {
        "boards": team_board_for(user=request.user),
        "submission_id": uuid.uuid4(),
        "absence_form": AbsenceForm(initial={"submission_id": uuid.uuid4()}),
        "absence_candidates": candidates,
        "absences": absences_recent(user=request.user),
        **extra,
    }

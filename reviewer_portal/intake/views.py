"""An agent's intake page, built from what the agent declares (AgentSpec.intake)."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from agents.framework.registry import AGENTS
from reviewer_portal.accounts.roles import ALL_ROLES, can_submit_to
from reviewer_portal.intake.declared_forms import IntakeForm
from reviewer_portal.intake.outcomes import RunChanged, RunNotStarted, RunOfAnother, RunQueued
from reviewer_portal.intake.services import intake_submit


@require_http_methods(["GET", "POST"])
@login_required
def intake_new(request: HttpRequest, agent: str) -> HttpResponse:
    spec = AGENTS.get(agent)
    if spec is None or spec.intake is None:
        raise Http404("No such intake.")
    intake = spec.intake
    if not can_submit_to(request.user, agent):
        raise PermissionDenied(f"Only {_who(intake.roles)} may use “{intake.label}”.")
    form = IntakeForm(intake, request.POST or None, initial={"submission_id": uuid.uuid4()})
    if request.method == "POST" and form.is_valid():
        try:
            intake_submit(
                agent=agent,
                values=form.values(),
                submitted_by=request.user,
                submission_id=str(form.cleaned_data["submission_id"]),
            )
        except RunQueued as err:
            messages.warning(request, str(err))  # kept: it starts without being sent again
            return redirect("inbox:list")
        except (RunOfAnother, RunChanged) as err:
            # The same values under a new form id of the user's own: sending it again submits them
            # (another's form, or the user's own already submitted with other values, is left be).
            own = request.POST.copy()
            own["submission_id"] = str(uuid.uuid4())
            form = IntakeForm(intake, own)
            form.is_valid()
            form.add_error(None, str(err))
            return render(request, "intake/new.html", {"form": form, "intake": intake}, status=409)
        except RunNotStarted as err:
            form.add_error(None, str(err))
        else:
            messages.success(request, intake.submitted)
            return redirect("inbox:list")
    return render(request, "intake/new.html", {"form": form, "intake": intake}, status=_status(form))


def _who(roles: tuple[str, ...]) -> str:
    return " and ".join(f"{ALL_ROLES.get(r, r).lower()}s" for r in roles) or "admins"


def _status(form: forms.Form) -> int:
    """400 for a form the user must correct; 503 when only Temporal's outage stopped it."""
    if not form.errors:
        return 200
    return 503 if set(form.errors) == {NON_FIELD_ERRORS} else 400

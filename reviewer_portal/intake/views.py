from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from reviewer_portal.accounts.roles import can_submit_applications
from reviewer_portal.intake.forms import LoanApplicationForm
from reviewer_portal.intake.services import LoanApplication, RunNotStarted, loan_application_submit


@require_http_methods(["GET", "POST"])
@login_required
def loan_application_new(request: HttpRequest) -> HttpResponse:
    if not can_submit_applications(request.user):
        raise PermissionDenied("Only credit officers submit loan applications.")
    form = LoanApplicationForm(request.POST or None, initial={"submission_id": uuid.uuid4()})
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "submission_id"}
        application = LoanApplication(
            **{
                k: float(v) if k in ("amount", "annual_income", "monthly_debts") else v
                for k, v in data.items()
            }
        )
        try:
            loan_application_submit(
                submitted_by=request.user,
                application=application,
                submission_id=str(form.cleaned_data["submission_id"]),
            )
        except RunNotStarted as err:
            form.add_error(None, str(err))
        else:
            messages.success(request, "Application submitted; the agent is pre-screening it.")
            return redirect("inbox:list")
    return render(request, "intake/new.html", {"form": form}, status=_status(form))


def _status(form: forms.Form) -> int:
    """400 for a form the user must correct; 503 when only Temporal's outage stopped it."""
    if not form.errors:
        return 200
    return 503 if set(form.errors) == {NON_FIELD_ERRORS} else 400

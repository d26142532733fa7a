"""Opening a financial advice case: a licensed adviser (or an admin) names the customer.

Four eyes: the adviser who opens a case cannot sign its advice off; another adviser does.
"""

from __future__ import annotations

import re
import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.core.validators import RegexValidator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from agents.advice.data import CUSTOMERS, case_subject
from agents.framework.registry import AGENTS
from agents.framework.types import AgentInput
from reviewer_portal.accounts.roles import can_open_advice_cases
from reviewer_portal.intake.services import RunNotStarted, agent_run_start


class AdviceCaseForm(forms.Form):
    customer_id = forms.CharField(
        label="Customer id",
        max_length=20,
        validators=[
            RegexValidator(r"^CUST-\d{4}$", "A customer id looks like CUST-1001.", flags=re.IGNORECASE)
        ],
        widget=forms.TextInput(attrs={"list": "customers", "autocomplete": "off"}),
    )
    # Becomes the workflow id: submitting the same form twice starts one run.
    submission_id = forms.UUIDField(widget=forms.HiddenInput)

    def clean_customer_id(self) -> str:
        return self.cleaned_data["customer_id"].strip().upper()


def advice_case_submit(*, submitted_by: AbstractBaseUser, customer_id: str, submission_id: str) -> str:
    """Start the advice agent for `customer_id`; returns the workflow id (the same on a resubmit)."""
    agent_input = AgentInput(
        spec=AGENTS["advice"].pin(),
        subject=case_subject(customer_id),
        case={"customer_id": customer_id},
        submitted_by="",
    )
    workflow_id = f"advice-{submission_id}"
    agent_run_start(workflow_id=workflow_id, agent_input=agent_input, submitted_by=submitted_by)
    return workflow_id


@require_http_methods(["GET", "POST"])
@login_required
def advice_case_new(request: HttpRequest) -> HttpResponse:
    if not can_open_advice_cases(request.user):
        raise PermissionDenied("Only licensed advisers open advice cases.")
    form = AdviceCaseForm(request.POST or None, initial={"submission_id": uuid.uuid4()})
    if request.method == "POST" and form.is_valid():
        try:
            advice_case_submit(
                submitted_by=request.user,
                customer_id=form.cleaned_data["customer_id"],
                submission_id=str(form.cleaned_data["submission_id"]),
            )
        except RunNotStarted as err:
            form.add_error(None, str(err))
        else:
            messages.success(request, "Advice case opened; the agent is drafting recommendations.")
            return redirect("inbox:list")
    context = {"form": form, "customers": {cid: c["name"] for cid, c in CUSTOMERS.items()}}
    return render(request, "intake/advice.html", context, status=400 if form.errors else 200)

"""The loan cases the benchmarks submit: the applications, the forms they take on the way in (the
intake service's values, the browser's form, a run's input) and a reviewer's signed approval."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: run as a script, the repo is on the path late
    from agents.framework.reviewer_actions import DecideInput
    from agents.framework.types import AgentInput, AgentRunSpec
    from agents.loans.intake import LoanApplication


def loan_application(applicant: str = "Amira Haddad", purpose: str = "home improvement") -> LoanApplication:
    """The loan agent's first demo case, an approval: 18,000 over 48 months on 62,000 a year,
    credit score 742; under another applicant's name or purpose when given."""
    from agents.loans.intake import LoanApplication

    return LoanApplication(applicant, 18_000, 48, purpose, 62_000, 450, 742)


def small_car_loan() -> LoanApplication:
    """A smaller application: 12,000 over 36 months for a car."""
    from agents.loans.intake import LoanApplication

    return LoanApplication("Ada Byron", 12_000, 36, "car", 55_000, 300, 720)


def intake_values(application: LoanApplication) -> dict[str, Any]:
    """The values `intake_submit` takes for the loan agent."""
    return application.run_request().case


def intake_form(application: LoanApplication) -> dict[str, str]:
    """The loan intake form's fields as a browser posts them."""
    return {name: str(value) for name, value in asdict(application).items()}


def loan_run_input(
    application: LoanApplication, *, spec: AgentRunSpec, submitted_by: str, **more: Any
) -> AgentInput:
    """A loan run's input as the intake starts it; `more` for its other fields (submitter's id, keys)."""
    from agents.framework.types import AgentInput

    request = application.run_request()
    return AgentInput(
        spec=spec, subject=request.subject, case=request.case, submitted_by=submitted_by, **more
    )


def signed_decision(
    workflow_id: str, gate_id: str, update_id: str, *, reviewer: str, reviewer_id: str
) -> DecideInput:
    """An approval as the portal sends it: signed for this run and Update id."""
    from agents.framework.contract import DECIDE
    from agents.framework.reviewer_actions import DecideInput
    from reviewer_portal.trust.signer import sign_action

    decision = DecideInput(
        gate_id=gate_id,
        decision="approve",
        reason="Affordable on verified income.",
        reviewer=reviewer,
        reviewer_roles=["credit_officer"],
        reviewer_id=reviewer_id,
        action_id=f"decide:{gate_id}:{uuid.uuid4()}",
        revision=0,
    )
    return sign_action(DECIDE, decision, workflow_id=workflow_id, update_id=update_id)

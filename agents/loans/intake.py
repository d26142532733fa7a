"""How a loan application reaches the agent: the credit officer's form, and the run it starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from agents.framework.intake import Intake, IntakeField, RunRequest

PURPOSES = (
    ("home improvement", "Home improvement"),
    ("car", "Car"),
    ("debt consolidation", "Debt consolidation"),
    ("education", "Education"),
    ("business", "Small business"),
    ("other", "Other"),
)


@dataclass(frozen=True)
class LoanApplication:
    applicant_name: str
    amount: float
    term_months: int
    purpose: str
    annual_income: float
    monthly_debts: float
    credit_score: int

    @property
    def subject(self) -> str:
        return f"{self.applicant_name}: {self.amount:,.0f} over {self.term_months} months, {self.purpose}"

    def run_request(self) -> RunRequest:
        return RunRequest(subject=self.subject, case=asdict(self))


def application_run(values: Mapping[str, Any]) -> RunRequest:
    return LoanApplication(**values).run_request()


LOAN_INTAKE = Intake(
    label="New loan application",
    roles=("credit_officer", "senior_credit_officer"),
    fields=(
        IntakeField("applicant_name", "Applicant name", max_length=120),
        IntakeField("amount", "Amount", "decimal", minimum=500, maximum=1_000_000),
        IntakeField("term_months", "Term (months)", "integer", minimum=6, maximum=360),
        IntakeField("purpose", "Purpose", "choice", choices=PURPOSES),
        IntakeField("annual_income", "Annual income", "decimal", minimum=1, maximum=100_000_000),
        IntakeField("monthly_debts", "Monthly debts", "decimal", minimum=0, maximum=10_000_000),
        IntakeField(
            "credit_score",
            "Credit score",
            "integer",
            minimum=300,
            maximum=850,
            help="As declared by the applicant.",
        ),
    ),
    to_run=application_run,
    submitted="Application submitted; the agent is pre-screening it.",
    button="Submit for pre-screening",
    workflow_prefix="loan-",
    intro="The agent pulls the credit file, checks affordability and the lending policy, then a credit officer decides.",
    path="applications/new/",
)

"""How a loan case and its evidence read to a credit officer, and the flags the agent raises."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.framework.presentation import CaseField, Shown
from agents.framework.types import BY_FRAMEWORK

CASE_FIELDS = (
    CaseField("applicant_name", "Applicant", searchable=True),
    CaseField("amount", "Amount", "currency", amount=True),
    CaseField("term_months", "Term", "months", column=True),
    CaseField("purpose", "Purpose", column=True, searchable=True),
    CaseField("annual_income", "Annual income", "currency"),
    CaseField("monthly_debts", "Monthly debts", "currency"),
    CaseField("credit_score", "Declared credit score", "integer"),
)

EVIDENCE = {
    "bureau_score": Shown("Bureau credit score", "integer"),
    "defaults": Shown("Defaults on file", "integer"),
    "open_accounts": Shown("Open accounts", "integer"),
    "credit_utilisation": Shown("Credit utilisation", "percent"),
    "file_age_years": Shown("Credit file age (years)", "integer"),
    "annual_rate": Shown("Annual rate", "percent"),
    "monthly_payment": Shown("Monthly payment", "currency"),
    "debt_to_income": Shown("Debt to income", "percent"),
    "passed": Shown("Policy passed"),
    "breaches": Shown("Policy breaches"),
    "referrals": Shown("Referral triggers"),
}

# A declared score this far from the bureau's is worth a reviewer's question.
SCORE_GAP = 5


# The framework makes the policy check before the model's first turn, but only with the bureau's
# and the calculator's figures; without them it is the model's to make, and a model may not.
NO_POLICY_CHECK = "No lending policy check in the evidence: check the policy before deciding."
# The framework makes the check with the bureau's and the calculator's figures; one the model
# made (theirs missing, or asked for again) had figures of the model's choosing.
CHECK_WITHOUT_FIGURES = (
    "The lending policy check was the AI's, not made with the bureau's file and the affordability "
    "figures: check what it was given."
)


def loan_flags(
    case: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]], made_by: Mapping[str, str]
) -> list[str]:
    flags = []
    declared = case.get("credit_score")
    bureau = results.get("loans.credit_bureau", {}).get("bureau_score")
    if (
        isinstance(declared, int | float)
        and isinstance(bureau, int | float)
        and abs(declared - bureau) >= SCORE_GAP
    ):
        flags.append(f"Declared credit score {declared:.0f}; the bureau reports {bureau:.0f}.")
    check = results.get("loans.lending_policy_check")
    if check is None:
        flags.append(NO_POLICY_CHECK)
        return flags
    if made_by.get("loans.lending_policy_check") != BY_FRAMEWORK:
        flags.append(CHECK_WITHOUT_FIGURES)
    breaches, referrals = check.get("breaches") or [], check.get("referrals") or []
    if check.get("passed") is not True or breaches:
        flags.append(f"The lending policy check did not pass ({_listed(breaches)}).")
    if referrals:
        flags.append(f"The lending policy check asks for a referral ({_listed(referrals)}).")
    return flags


def _listed(items: Any) -> str:
    return "; ".join(str(item) for item in items) if isinstance(items, list) and items else "see the check"

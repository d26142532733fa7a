"""Opening an advice case: a licensed adviser names the customer; another adviser signs it off."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.advice.data import CUSTOMERS, case_subject, customer
from agents.framework.demo import DemoCase
from agents.framework.intake import Intake, IntakeField, RunRequest
from agents.framework.presentation import CaseField, Shown


def advice_run(values: Mapping[str, Any]) -> RunRequest:
    customer_id = values["customer_id"]
    return RunRequest(subject=case_subject(customer_id), case={"customer_id": customer_id})


def unknown_customer(values: Mapping[str, Any]) -> dict[str, str]:
    """An advice case is for a customer the bank's systems know: refused here, not referred later."""
    customer_id = values.get("customer_id", "")
    if customer_id and customer(customer_id) is None:
        return {"customer_id": f"No customer {customer_id} is known to the bank's systems."}
    return {}


ADVICE_INTAKE = Intake(
    label="New advice case",
    roles=("licensed_adviser",),
    fields=(
        IntakeField(
            "customer_id",
            "Customer id",
            max_length=20,
            pattern=r"CUST-\d{4}",
            pattern_message="A customer id looks like CUST-1001.",
            suggestions=tuple((cid, c["name"]) for cid, c in CUSTOMERS.items()),
            uppercase=True,
        ),
    ),
    to_run=advice_run,
    check=unknown_customer,
    submitted="Advice case opened; the agent is drafting recommendations.",
    button="Draft advice",
    workflow_prefix="advice-",
    intro="The agent reads the customer's holdings, spending and risk profile and drafts advice; another adviser signs it off.",
    path="advice/new/",
)


def demo_cases() -> list[DemoCase]:
    """Every demo customer: advise (several kinds), no action, and a referral."""
    return [DemoCase(cid, (req := advice_run({"customer_id": cid})).subject, req.case) for cid in CUSTOMERS]


CASE_FIELDS = (CaseField("customer_id", "Customer", column=True, searchable=True),)

EVIDENCE = {
    "total_value": Shown("Total value", "currency"),
    "monthly_income": Shown("Monthly income", "currency"),
    "monthly_spending": Shown("Monthly spending", "currency"),
    "monthly_surplus": Shown("Monthly surplus", "currency"),
    "savings_rate": Shown("Savings rate", "percent"),
    "months_observed": Shown("Months observed", "integer"),
    "ongoing_charge_pct": Shown("Ongoing charge (%)"),
    "positions": Shown("Holdings"),
    "share": Shown("Share of portfolio", "percent"),
    "by_asset_class": Shown("Share by asset class", "percent"),
    "categories": Shown("Monthly spending by category", "currency"),
    "risk_rating": Shown("Risk (1 to 7)", "integer"),
    "attitude_to_risk": Shown("Attitude to risk (1 to 7)", "integer"),
    "horizon_years": Shown("Horizon (years)", "integer"),
}

"""The advice team's tools and actions: customer data lookups, then deliver or withhold.

The four lookups are Activities the model calls together in one turn. An unknown customer is a
non-retryable error, so the model sees at once why the evidence is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.advice import data
from agents.framework.tools import tool
from agents.framework.types import GateSnapshot

MONTHS_OBSERVED = 3


@dataclass
class CustomerArgs:
    customer_id: str


@tool("advice.holdings", "The customer's investments and cash: positions, values, asset classes, charges.")
async def holdings(args: CustomerArgs) -> dict[str, Any]:
    found = _customer(args.customer_id)
    total = sum(value for _, _, value, _, _ in found["holdings"])
    positions = [
        {
            "name": name,
            "asset_class": asset_class,
            "value": value,
            "share": round(value / total, 3),
            "risk_rating": risk,
            "ongoing_charge_pct": charge,
        }
        for name, asset_class, value, risk, charge in found["holdings"]
    ]
    by_class: dict[str, float] = {}
    for position in positions:
        by_class[position["asset_class"]] = round(
            by_class.get(position["asset_class"], 0) + position["share"], 3
        )
    return {"total_value": total, "positions": positions, "by_asset_class": by_class}


@tool("advice.spending", "The customer's income and spending, monthly averages over the last three months.")
async def spending(args: CustomerArgs) -> dict[str, Any]:
    found = _customer(args.customer_id)
    income, categories = found["spending"]["monthly_income"], found["spending"]["categories"]
    spent = sum(categories.values())
    return {
        "months_observed": MONTHS_OBSERVED,
        "monthly_income": income,
        "monthly_spending": spent,
        "monthly_surplus": income - spent,
        "savings_rate": round((income - spent) / income, 3),
        "categories": dict(categories),
    }


@tool(
    "advice.risk_profile", "The customer's risk profile: attitude to risk (1-7), capacity for loss, horizon."
)
async def risk_profile(args: CustomerArgs) -> dict[str, Any]:
    found = _customer(args.customer_id)
    return {"age": found["age"], **found["risk"]}


@tool(
    "advice.product_catalogue", "The products this customer is eligible for, with risk ratings and charges."
)
async def product_catalogue(args: CustomerArgs) -> dict[str, Any]:
    found = _customer(args.customer_id)
    products = [
        {"code": code, "name": name, "risk_rating": risk, "ongoing_charge_pct": charge, "complex": complex_}
        for code, name, risk, charge, complex_ in data.PRODUCTS
        if code != "LISA" or found["age"] in data.LISA_AGES
    ]
    return {"products": products}


@activity.defn(name="advice.deliver_advice")
async def deliver_advice(gate: GateSnapshot) -> dict[str, Any]:
    """After a licensed adviser's sign-off: deliver exactly the approved text, edits included."""
    approved = approved_advice(gate.recommendation.proposal, gate.edits)
    text = str(approved.get("recommendations", "")).strip()
    base = {"customer_id": gate.case.get("customer_id", ""), "approved_by": gate.decided_by}
    if not text:
        # A referral the adviser accepted without writing advice: there is nothing to deliver.
        return {
            "action": "referral accepted, no advice delivered",
            **base,
            "reason": gate.recommendation.rationale,
        }
    return {
        "action": "advice delivered",
        "advice_id": f"ADV-{gate.workflow_id[-8:].upper()}",
        **base,
        "recommendations": text,
        "products": approved.get("products", []),
        "edited": bool(gate.edits),
    }


@activity.defn(name="advice.record_withheld")
async def record_withheld(gate: GateSnapshot) -> dict[str, Any]:
    """After a rejection or an expired SLA: record that no advice went to the customer, and why."""
    return {
        "action": "advice withheld",
        "record_id": f"WHD-{gate.workflow_id[-8:].upper()}",
        "customer_id": gate.case.get("customer_id", ""),
        "reason": gate.reason,
        "rejected_by": gate.decided_by,
    }


def _customer(customer_id: str) -> dict[str, Any]:
    found = data.customer(customer_id)
    if found is None:
        raise ApplicationError(
            f"Unknown customer '{customer_id}': no such customer in the bank's records.",
            type="UnknownCustomer",
            non_retryable=True,
        )
    return found


def approved_advice(proposal: Mapping[str, Any], edits: Mapping[str, Any]) -> dict[str, Any]:
    """The advice as signed off: the adviser's edits, and only the products the approved text
    still names (an edit may have dropped one)."""
    approved = {**proposal, **edits}
    text = str(approved.get("recommendations", ""))
    approved["products"] = [p for p in approved.get("products", []) if (code := _code_of(p)) and code in text]
    return approved


def _code_of(product: Any) -> str:
    """The catalogue code a proposal's product line starts with ("CASH-ISA: Easy Access ...")."""
    return str(product).split(":", 1)[0].strip()

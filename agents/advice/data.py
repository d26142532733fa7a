"""Deterministic local stand-ins for the bank's customer systems: a handful of demo customers.

Each customer is chosen to exercise one suitability rule of the offline model (an emergency
fund shortfall with a concentrated position, holdings above the risk profile, high fees, nothing
to change, spending above income). Amounts are in the portal's currency. No I/O, no Django.
"""

from __future__ import annotations

from typing import Any

CUSTOMERS: dict[str, dict[str, Any]] = {
    "CUST-1001": {
        "name": "Priya Shah",
        "age": 34,
        "holdings": [
            ("Northwind plc shares (employer)", "single stock", 42_000, 7, 0.0),
            ("Multi-Asset Growth Fund", "multi-asset fund", 8_000, 5, 0.22),
            ("Current account savings", "cash", 3_000, 1, 0.0),
        ],
        "spending": {
            "monthly_income": 4_200,
            "categories": {
                "housing": 1_350,
                "groceries": 420,
                "transport": 260,
                "leisure": 540,
                "other": 330,
            },
        },
        "risk": {
            "attitude_to_risk": 5,
            "capacity_for_loss": "medium",
            "horizon_years": 25,
            "knowledge": "informed",
        },
    },
    "CUST-1002": {
        "name": "George Ellis",
        "age": 58,
        "holdings": [
            ("Emerging Markets Active Fund", "equity fund", 30_000, 7, 0.95),
            ("Multi-Asset Cautious Fund", "multi-asset fund", 40_000, 3, 0.22),
            ("Instant access savings", "cash", 25_000, 1, 0.0),
        ],
        "spending": {
            "monthly_income": 3_500,
            "categories": {"housing": 900, "groceries": 520, "transport": 380, "leisure": 450, "other": 350},
        },
        "risk": {"attitude_to_risk": 3, "capacity_for_loss": "low", "horizon_years": 7, "knowledge": "basic"},
    },
    "CUST-1003": {
        "name": "Margaret Doyle",
        "age": 71,
        "holdings": [
            ("Multi-Asset Cautious Fund", "multi-asset fund", 120_000, 3, 0.22),
            ("Short-dated Gilt Fund", "bond fund", 40_000, 2, 0.10),
            ("Instant access savings", "cash", 20_000, 1, 0.0),
        ],
        "spending": {
            "monthly_income": 2_400,
            "categories": {"housing": 650, "groceries": 480, "transport": 200, "leisure": 520, "other": 500},
        },
        "risk": {
            "attitude_to_risk": 3,
            "capacity_for_loss": "low",
            "horizon_years": 10,
            "knowledge": "basic",
        },
    },
    "CUST-1004": {
        "name": "Daniel Kim",
        "age": 27,
        "holdings": [("Current account", "cash", 400, 1, 0.0)],
        "spending": {
            "monthly_income": 2_100,
            "categories": {
                "housing": 1_050,
                "groceries": 380,
                "transport": 240,
                "leisure": 510,
                "other": 270,
            },
        },
        "risk": {
            "attitude_to_risk": 6,
            "capacity_for_loss": "low",
            "horizon_years": 30,
            "knowledge": "basic",
        },
    },
    "CUST-1005": {
        "name": "Aisha Bello",
        "age": 45,
        "holdings": [
            ("High Street Active Equity Fund", "equity fund", 60_000, 6, 1.45),
            ("Global Equity Index Tracker", "equity fund", 20_000, 6, 0.12),
            ("Instant access savings", "cash", 30_000, 1, 0.0),
        ],
        "spending": {
            "monthly_income": 6_000,
            "categories": {
                "housing": 1_700,
                "groceries": 650,
                "transport": 420,
                "leisure": 610,
                "other": 420,
            },
        },
        "risk": {
            "attitude_to_risk": 6,
            "capacity_for_loss": "high",
            "horizon_years": 20,
            "knowledge": "experienced",
        },
    },
}

# code, name, risk rating (1-7), ongoing charge % a year, complex (needs an informed investor)
PRODUCTS = [
    ("CASH-ISA", "Easy Access Cash ISA", 1, 0.0, False),
    ("LISA", "Lifetime ISA (cash)", 1, 0.0, False),
    ("GILT-FUND", "Short-dated Gilt Fund", 2, 0.10, False),
    ("MA-CAUTIOUS", "Multi-Asset Cautious Fund", 3, 0.22, False),
    ("MA-BALANCED", "Multi-Asset Balanced Fund", 4, 0.22, False),
    ("MA-GROWTH", "Multi-Asset Growth Fund", 5, 0.22, False),
    ("GLOBAL-TRACKER", "Global Equity Index Tracker", 6, 0.12, False),
    ("EM-ACTIVE", "Emerging Markets Active Fund", 7, 0.95, True),
]
# The Lifetime ISA is open to savers aged 18 to 39 only.
LISA_AGES = range(18, 40)


def customer(customer_id: str) -> dict[str, Any] | None:
    return CUSTOMERS.get(customer_id.strip().upper())


def case_subject(customer_id: str) -> str:
    """How an advice case is titled in the inbox: the customer's name when we know them."""
    found = customer(customer_id)
    name = f"{found['name']} ({customer_id})" if found else customer_id
    return f"Advice review: {name}"

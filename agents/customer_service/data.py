"""The customer-service team's CRM and policy library: small fixed records (no I/O)."""

from __future__ import annotations

CUSTOMERS = {
    "CUST-2001": {"name": "Ines Duarte", "segment": "retail", "products": ["current account", "credit card"]},
    "CUST-2002": {"name": "Kwame Mensah", "segment": "premier", "products": ["mortgage", "savings"]},
}
POLICIES = {
    "card fees": "Foreign transaction fees are 2.75 %; premier customers pay none.",
    "overdraft": "Arranged overdrafts cost 39.9 % EAR; the first 50 are interest-free.",
    "mortgage overpayment": "Overpay up to 10 % of the balance a year without an early repayment charge.",
}

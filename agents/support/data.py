"""The support team's account records: small fixed data (no I/O)."""

from __future__ import annotations

from typing import Any

ACCOUNTS: dict[str, dict[str, Any]] = {
    "CUST-2001": {
        "name": "Ines Duarte",
        "card_status": "active",
        "last_payment": {"date": "2026-11-02", "amount": 420.00, "to": "Credit card"},
        "open_tickets": 0,
        "recent": ["Card replaced (2026-09-14)", "Address changed (2026-06-01)"],
    },
    "CUST-2002": {
        "name": "Kwame Mensah",
        "card_status": "blocked",
        "last_payment": {"date": "2026-11-20", "amount": 1250.00, "to": "Mortgage"},
        "open_tickets": 1,
        "recent": ["Card blocked after three wrong PINs (2026-11-24)"],
    },
}

"""Demo transactions for `make dev`: two plainly fine, two a fraud analyst must see."""

from __future__ import annotations

from dataclasses import asdict

from agents.framework.demo import DemoCase
from agents.fraud.features import Transaction

DEMO_TRANSACTIONS = (
    Transaction("TX-1001", 42.50, "Green Grocer Ltd", "grocery", "GB", "GB", 14, 930, 2),
    Transaction("TX-1002", 61.20, "Café Lumière", "restaurants", "GB", "GB", 19, 2_400, 3),
    Transaction("TX-1003", 1_950.00, "Instant Gift Cards", "gift_cards", "FR", "GB", 3, 3, 9),
    Transaction("TX-1004", 4_800.00, "CoinSwap Exchange", "crypto", "MT", "GB", 2, 12, 14),
)


def subject_of(txn: Transaction) -> str:
    return f"{txn.transaction_id}: {txn.amount:,.2f} at {txn.merchant}"


def demo_cases() -> list[DemoCase]:
    return [DemoCase(txn.transaction_id, subject_of(txn), asdict(txn)) for txn in DEMO_TRANSACTIONS]

"""The features the fraud model reads, computed one way for training and for scoring: from a
checked transaction to six numbers. Pure Python (no numpy, no I/O), so the synthetic training set
and the live pipeline can never drift apart."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

# How often each merchant category is behind card fraud, from 0 (never) to 1: the enrichment a
# real pipeline would look up in a merchant-risk service.
CATEGORY_RISK: dict[str, float] = {
    "grocery": 0.05,
    "fuel": 0.1,
    "restaurants": 0.1,
    "utilities": 0.05,
    "travel": 0.45,
    "electronics": 0.6,
    "online_marketplace": 0.5,
    "gift_cards": 0.9,
    "crypto": 0.95,
    "other": 0.3,
}
NIGHT_HOURS = range(0, 6)
# Velocity beyond this adds nothing the model could learn from.
MAX_TRANSACTIONS_24H = 50


@dataclass(frozen=True)
class Transaction:
    """A card transaction once checked (agents.fraud.transaction): every field present and sane."""

    transaction_id: str
    amount: float
    merchant: str
    merchant_category: str
    merchant_country: str
    card_country: str
    hour: int
    card_age_days: int
    transactions_24h: int


@dataclass
class FeatureVector:
    """The model's input, by name; also the score tool's arguments."""

    log_amount: float
    night: float
    foreign: float
    category_risk: float
    log_card_age_days: float
    transactions_24h: float

    def values(self) -> list[float]:
        return [getattr(self, name) for name in FEATURE_NAMES]


FEATURE_NAMES = tuple(f.name for f in fields(FeatureVector))


def features_of(txn: Transaction) -> FeatureVector:
    return FeatureVector(
        log_amount=round(math.log10(1 + txn.amount), 6),
        night=1.0 if txn.hour in NIGHT_HOURS else 0.0,
        foreign=0.0 if txn.merchant_country == txn.card_country else 1.0,
        category_risk=CATEGORY_RISK.get(txn.merchant_category, CATEGORY_RISK["other"]),
        log_card_age_days=round(math.log10(1 + txn.card_age_days), 6),
        transactions_24h=float(min(txn.transactions_24h, MAX_TRANSACTIONS_24H)),
    )


def feature_dict(txn: Transaction) -> dict[str, float]:
    return asdict(features_of(txn))

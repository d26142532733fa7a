"""The synthetic card transactions the fraud model learns from, generated from a seed alone: the
same seed gives the same transactions and labels on every machine, hence the same model file.

Legitimate and fraudulent transactions come from two overlapping populations (fraud: larger
amounts, riskier merchants, night hours, abroad, new cards, bursts of use), so the model has
something to learn and still makes mistakes near the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.fraud.features import CATEGORY_RISK, Transaction

DEFAULT_SEED = 20_261_126
DEFAULT_ROWS = 20_000
FRAUD_RATE = 0.04

CATEGORIES = tuple(CATEGORY_RISK)


@dataclass(frozen=True)
class Population:
    """How one class of transactions is drawn."""

    category_weights: tuple[float, ...]  # in CATEGORIES order
    log_amount_mean: float  # natural log of the typical amount
    log_amount_sigma: float
    night_share: float
    foreign_share: float
    card_age_mean_days: float
    transactions_24h_mean: float


#                          grocery fuel  rest. util. travel elec. market gift  crypto other
LEGITIMATE = Population(
    (0.28, 0.14, 0.18, 0.08, 0.05, 0.05, 0.14, 0.01, 0.01, 0.06), 3.3, 1.0, 0.06, 0.08, 700, 2
)
FRAUDULENT = Population(
    (0.06, 0.05, 0.06, 0.02, 0.13, 0.2, 0.2, 0.14, 0.08, 0.06), 4.3, 1.3, 0.3, 0.35, 250, 4
)


def transactions(seed: int = DEFAULT_SEED, rows: int = DEFAULT_ROWS) -> tuple[list[Transaction], list[int]]:
    """`rows` transactions and their labels (1: fraud), from `seed` alone."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(rows) < FRAUD_RATE).astype(int)
    drawn = [_draw(rng, FRAUDULENT if label else LEGITIMATE, i) for i, label in enumerate(labels)]
    return drawn, [int(label) for label in labels]


def _draw(rng: np.random.Generator, population: Population, index: int) -> Transaction:
    category = CATEGORIES[int(rng.choice(len(CATEGORIES), p=population.category_weights))]
    amount = float(np.exp(rng.normal(population.log_amount_mean, population.log_amount_sigma)))
    night = rng.random() < population.night_share
    hour = int(rng.integers(0, 6)) if night else int(rng.integers(6, 24))
    foreign = rng.random() < population.foreign_share
    return Transaction(
        transaction_id=f"SYN-{index:06d}",
        amount=round(min(amount, 100_000.0), 2),
        merchant=f"Synthetic merchant {index % 997}",
        merchant_category=category,
        merchant_country="FR" if foreign else "GB",
        card_country="GB",
        hour=hour,
        card_age_days=int(rng.exponential(population.card_age_mean_days)),
        transactions_24h=int(rng.poisson(population.transactions_24h_mean)),
    )

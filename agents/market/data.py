"""Synthetic market data made from the names alone (no randomness, no I/O): the same for every
worker, test and replay."""

from __future__ import annotations

import hashlib


def _unit(*parts: str) -> float:
    """A number in [0, 1) determined by `parts`."""
    return hashlib.sha256("/".join(parts).encode()).digest()[0] / 256


def mentions(product: str, week: str) -> dict[str, int]:
    total = 200 + int(_unit(product, week, "mentions") * 800)
    positive = int(total * (0.3 + 0.5 * _unit(product, week, "tone")))
    negative = int((total - positive) * 0.6)
    return {"positive": positive, "neutral": total - positive - negative, "negative": negative}


def headlines(product: str, week: str) -> list[str]:
    topics = ["rate change", "app outage", "new branch openings", "regulator statement", "savings campaign"]
    picked = sorted(topics, key=lambda topic: _unit(product, week, topic))[:3]
    return [f"{product}: {topic}" for topic in picked]


def rate(bank: str, product: str) -> float:
    """An annual savings rate in percent, 2.5 to 5.0."""
    return round(2.5 + 2.5 * _unit(bank, product, "rate"), 2)

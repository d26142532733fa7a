"""Checking a submitted transaction before anything scores it: every field present, of its type
and within its range, or a refusal that says which and why. Pure, so each rule has a fast test.

Merchant names arrive from card networks and web forms: they are normalised (NFKC) and stripped
of control, format and bidirectional characters, which could otherwise make a name read
differently to an analyst than it is stored.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from agents.fraud.features import CATEGORY_RISK, Transaction

# Above this no card transaction is plausible: such an amount is a data error, refused. Amounts
# between the model's range and this are scored and referred (agents.fraud.rules).
MAX_AMOUNT = 1_000_000_000.0
MERCHANT_MAX_LENGTH = 120
TRANSACTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
COUNTRY = re.compile(r"[A-Z]{2}")
MAX_CARD_AGE_DAYS = 36_500
MAX_TRANSACTIONS_24H = 100_000
REQUIRED = (
    "transaction_id",
    "amount",
    "merchant",
    "merchant_category",
    "merchant_country",
    "card_country",
    "hour",
    "card_age_days",
    "transactions_24h",
)


class TransactionRefused(ValueError):
    """The transaction cannot be scored as submitted; the message says why, in plain words."""


def checked_transaction(case: Mapping[str, Any]) -> Transaction:
    """The transaction in `case`, checked and normalised, or TransactionRefused."""
    if not isinstance(case, Mapping):
        raise TransactionRefused("The transaction is not a set of named fields.")
    missing = [name for name in REQUIRED if case.get(name) in (None, "")]
    if missing:
        raise TransactionRefused(f"The transaction lacks {', '.join(missing)}.")
    return Transaction(
        transaction_id=_transaction_id(case["transaction_id"]),
        amount=_amount(case["amount"]),
        merchant=clean_merchant(case["merchant"]),
        merchant_category=_category(case["merchant_category"]),
        merchant_country=_country(case["merchant_country"], "merchant_country"),
        card_country=_country(case["card_country"], "card_country"),
        hour=_whole(case["hour"], "hour", 0, 23),
        card_age_days=_whole(case["card_age_days"], "card_age_days", 0, MAX_CARD_AGE_DAYS),
        transactions_24h=_whole(case["transactions_24h"], "transactions_24h", 0, MAX_TRANSACTIONS_24H),
    )


def prepared_case(case: Mapping[str, Any]) -> dict[str, Any]:
    """The case the agent works from: the checked transaction, and whether its merchant name had
    to be cleaned (a flag for the analyst)."""
    txn = checked_transaction(case)
    return {**asdict(txn), "merchant_cleaned": txn.merchant != case["merchant"]}


def clean_merchant(value: object) -> str:
    if not isinstance(value, str):
        raise TransactionRefused("merchant must be text.")
    normalised = unicodedata.normalize("NFKC", value)
    # Categories C*: control, format (bidi overrides, zero-width), surrogates, private, unassigned.
    visible = "".join(" " if ch.isspace() else ch for ch in normalised if not _invisible(ch))
    cleaned = " ".join(visible.split())[:MERCHANT_MAX_LENGTH].strip()
    if not cleaned:
        raise TransactionRefused("merchant has no printable characters.")
    return cleaned


def _invisible(ch: str) -> bool:
    return unicodedata.category(ch).startswith("C") and not ch.isspace()


def _transaction_id(value: object) -> str:
    if not isinstance(value, str) or not TRANSACTION_ID.fullmatch(value):
        raise TransactionRefused("transaction_id must be 1 to 64 letters, digits, '-' or '_'.")
    return value


def _amount(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TransactionRefused("amount must be a number.")
    try:
        amount = float(value)
    except OverflowError:  # an int beyond any float
        amount = math.inf
    if math.isnan(amount) or amount <= 0:
        raise TransactionRefused(
            "amount must be a positive number: refunds and reversals are not scored for fraud."
        )
    if amount > MAX_AMOUNT:  # also infinity
        raise TransactionRefused(f"amount is above {MAX_AMOUNT:,.0f}, which no card transaction reaches.")
    return round(amount, 2)


def _category(value: object) -> str:
    if not isinstance(value, str):
        raise TransactionRefused("merchant_category must be text.")
    category = value.strip().lower().replace(" ", "_")
    return category if category in CATEGORY_RISK else "other"


def _country(value: object, name: str) -> str:
    if not isinstance(value, str) or not COUNTRY.fullmatch(value.strip().upper()):
        raise TransactionRefused(f"{name} must be a two-letter country code.")
    return value.strip().upper()


def _whole(value: object, name: str, lowest: int, highest: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TransactionRefused(f"{name} must be a whole number.")
    if not lowest <= value <= highest:
        raise TransactionRefused(f"{name} must be between {lowest:,} and {highest:,}.")
    return value

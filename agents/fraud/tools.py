"""The fraud pipeline's steps, each an Activity so each is checkpointed in history: check the
transaction (the run's `prepare` step), compute its features, score them, apply the rules; then
block it once a fraud analyst approves (an ApprovalRule gates that call), and settle it.

The score comes from the local scikit-learn model (FRAUD_MODEL_DIR; trained there on first use)
or, with FRAUD_SCORER_URL set, from a remote scorer; either way the model version is recorded
with the score.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.framework.tools import tool
from agents.framework.types import AgentOutcome, PreparedCase
from agents.fraud.features import FeatureVector, Transaction, features_of
from agents.fraud.remote import remote_score
from agents.fraud.rules import BLOCK, FEATURES, RULES, SCORE, RuleArgs, disposition, rule_findings
from agents.fraud.transaction import TransactionRefused, prepared_case

MODEL_DIR_ENV = "FRAUD_MODEL_DIR"
SCORER_URL_ENV = "FRAUD_SCORER_URL"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "var" / "fraud-model"


@dataclass
class BlockArgs:
    transaction_id: str
    merchant: str
    amount: float
    score: float
    model_version: str
    reasons: list[str]
    rationale: str


@activity.defn(name="fraud.check_transaction")
async def check_transaction(case: dict[str, Any]) -> PreparedCase:
    """Refuse, for good and in plain words, a transaction that cannot be scored as submitted."""
    try:
        return PreparedCase(case=prepared_case(case))
    except TransactionRefused as refused:
        raise ApplicationError(
            f"Transaction refused: {refused}", type="TransactionRefused", non_retryable=True
        ) from None


@tool(FEATURES, "The transaction's model features: amount, time, place, merchant risk, card age, velocity.")
async def features(args: Transaction) -> dict[str, Any]:
    return {"features": asdict(features_of(args))}


@tool(SCORE, "The probability that the transaction is fraud, and the version of the model that said so.")
async def score(args: FeatureVector) -> dict[str, Any]:
    url = os.environ.get(SCORER_URL_ENV, "")
    if url:
        return {**await remote_score(url, asdict(args)), "scorer": "remote"}
    # Imported here: scikit-learn takes a second to import, which only scoring workers should pay.
    from agents.fraud.model import model_in

    model = await asyncio.to_thread(model_in, model_dir())
    scored = model.score(args)
    return {
        "score": scored.probability,
        "model_version": model.version,
        "drivers": scored.drivers,
        "scorer": "local",
    }


@tool(RULES, "The fraud rules: whether a fraud analyst must review the transaction, and why.")
async def rules(args: RuleArgs) -> dict[str, Any]:
    return rule_findings(args)


@tool(BLOCK, "Block the transaction as fraud. Runs only once a fraud analyst approves it.")
async def block_transaction(args: BlockArgs) -> dict[str, Any]:
    # Keyed by the run: a second delivery of this activity blocks the same reference again.
    reference = f"BLK-{(activity.info().workflow_id or '')[-8:].upper()}"
    return {"blocked": True, "transaction_id": args.transaction_id, "block_reference": reference}


@activity.defn(name="fraud.settle")
async def settle(outcome: AgentOutcome) -> dict[str, Any]:
    """Record what becomes of the transaction (agents.fraud.rules.disposition)."""
    return disposition(outcome)


def model_dir() -> Path:
    return Path(os.environ.get(MODEL_DIR_ENV) or DEFAULT_MODEL_DIR)

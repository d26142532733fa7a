"""How the offline model runs the fraud pipeline: features, then the score, then the rules, one
step a turn; a transaction the rules refer (or one a step failed on) goes to a fraud analyst as a
proposed block. Only the tool results drive it; the case only fills in the first step's fields."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from agents.framework.offline_model import submitted_case, tool_results
from agents.fraud.features import Transaction
from agents.fraud.rules import BLOCK, FEATURES, RULES, SCORE

TRANSACTION_FIELDS = tuple(f.name for f in fields(Transaction))


def fraud_policy(messages: list[dict[str, Any]]) -> dict[str, Any]:
    case = submitted_case(messages)
    results = tool_results(messages)
    if BLOCK in results:
        return _after_review(results[BLOCK])
    failed = next((name for name in (FEATURES, SCORE, RULES) if "error" in results.get(name, {})), None)
    if failed is not None:
        reason = f"{failed} failed, so the transaction is unscored: {results[failed]['error']}"
        return _propose_block(case, results.get(SCORE, {}), [reason])
    if FEATURES not in results:
        return _call(FEATURES, {name: case[name] for name in TRANSACTION_FIELDS})
    if SCORE not in results:
        return _call(SCORE, results[FEATURES]["features"])
    score = results[SCORE]
    if RULES not in results:
        arguments = {
            "amount": case["amount"],
            "score": score["score"],
            "merchant_category": case["merchant_category"],
            "card_age_days": case["card_age_days"],
            "transactions_24h": case["transactions_24h"],
        }
        return _call(RULES, arguments)
    findings = results[RULES]
    if findings["refer"]:
        return _propose_block(case, score, findings["reasons"])
    return _answer(
        "legitimate",
        f"Fraud score {score['score']:.1%} is below the review threshold {findings['threshold']:.0%} "
        "and no fraud rule applies.",
        score.get("drivers", []),
    )


def _propose_block(case: dict[str, Any], score: dict[str, Any], reasons: list[str]) -> dict[str, Any]:
    arguments = {
        "transaction_id": case["transaction_id"],
        "merchant": case["merchant"],
        "amount": case["amount"],
        "score": score.get("score", 0.0),
        "model_version": score.get("model_version", "unscored"),
        "reasons": reasons,
        "rationale": "A fraud analyst should decide this transaction: " + "; ".join(reasons) + ".",
    }
    return _call(BLOCK, arguments)


def _after_review(result: dict[str, Any]) -> dict[str, Any]:
    if "error" in result:
        return _answer("legitimate", f"A fraud analyst released the transaction. {result['error']}", [])
    return _answer(
        "fraud",
        f"A fraud analyst confirmed fraud; blocked as {result['block_reference']}.",
        ["confirmed fraud"],
    )


def _call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


def _answer(outcome: str, rationale: str, risk_factors: list[str]) -> dict[str, Any]:
    return {"content": json.dumps({"outcome": outcome, "rationale": rationale, "risk_factors": risk_factors})}

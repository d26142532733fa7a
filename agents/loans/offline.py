"""How the offline model pre-screens a loan: bureau and affordability together, then policy."""

from __future__ import annotations

import json
from typing import Any

from agents.framework.offline_model import tool_results


def loan_policy(messages: list[dict[str, Any]]) -> dict[str, Any]:
    case = json.loads(next(m["content"] for m in messages if m["role"] == "user"))
    results = tool_results(messages)
    failed = [name for name, body in results.items() if "error" in body]
    if failed:
        return _answer("refer", f"Evidence is missing: {', '.join(failed)} failed.", ["missing evidence"])
    if "loans.credit_bureau" not in results:
        return {
            "tool_calls": [
                {
                    "name": "loans.credit_bureau",
                    "arguments": {
                        "applicant_name": case["applicant_name"],
                        "declared_score": case["credit_score"],
                    },
                },
                {
                    "name": "loans.affordability",
                    "arguments": {
                        "amount": case["amount"],
                        "term_months": case["term_months"],
                        "annual_income": case["annual_income"],
                        "monthly_debts": case["monthly_debts"],
                    },
                },
            ]
        }
    bureau, afford = results["loans.credit_bureau"], results["loans.affordability"]
    if "loans.lending_policy_check" not in results:
        return {
            "tool_calls": [
                {
                    "name": "loans.lending_policy_check",
                    "arguments": {
                        "bureau_score": bureau["bureau_score"],
                        "debt_to_income": afford["debt_to_income"],
                        "amount": case["amount"],
                        "defaults": bureau["defaults"],
                    },
                }
            ]
        }
    policy = results["loans.lending_policy_check"]
    revision = _change_request(messages)
    if revision:
        return _revised(revision, policy)
    evidence = (
        f"Bureau score {bureau['bureau_score']}, debt-to-income {afford['debt_to_income']:.0%}, "
        f"monthly payment {afford['monthly_payment']:,.2f}."
    )
    if policy["breaches"]:
        return _answer(
            "decline", f"{evidence} Policy breached: {'; '.join(policy['breaches'])}.", policy["breaches"]
        )
    if policy["referrals"]:
        return _answer(
            "refer", f"{evidence} Referral needed: {'; '.join(policy['referrals'])}.", policy["referrals"]
        )
    return _answer("approve", f"{evidence} All lending policy checks passed.", [])


def _answer(outcome: str, rationale: str, risk_factors: list[str]) -> dict[str, Any]:
    return {"content": json.dumps({"outcome": outcome, "rationale": rationale, "risk_factors": risk_factors})}


def _change_request(messages: list[dict[str, Any]]) -> str:
    """The reviewer's instructions, when the last message sends the recommendation back."""
    last = messages[-1]
    content: str = last.get("content") or ""
    if last["role"] == "user" and "requested changes:" in content:
        return content.split("requested changes:", 1)[1].split("\n")[0].strip()
    return ""


def _revised(instructions: str, policy: dict[str, Any]) -> dict[str, Any]:
    """A revision follows the reviewer's steer when it names an outcome; it never hides a breach."""
    wanted = next((o for o in ("approve", "decline", "refer") if o in instructions.lower()), "refer")
    if wanted == "approve" and policy["breaches"]:
        wanted = "refer"
    factors = policy["breaches"] + policy["referrals"]
    return _answer(
        wanted,
        f"Revised after review ({instructions}). Policy findings: {'; '.join(factors) or 'none'}.",
        factors,
    )

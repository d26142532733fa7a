"""How the offline model drafts advice: all four lookups in one turn, then suitability rules.

The rules are the ones an adviser checks first: a six-month emergency fund before investing,
no single share above a tenth of the portfolio, nothing above the customer's risk profile
(attitude to risk, capped by capacity for loss and horizon), and no high charges where a
cheaper product of the same risk exists. Deterministic: the same data gives the same draft.
"""

from __future__ import annotations

import json
from typing import Any

from agents.framework.offline_model import tool_results

LOOKUPS = ("advice.holdings", "advice.spending", "advice.risk_profile", "advice.product_catalogue")
EMERGENCY_MONTHS = 6
EXCESS_CASH_MONTHS = 12
MAX_SINGLE_STOCK_SHARE = 0.10
HIGH_CHARGE_PCT = 0.75
MIN_SURPLUS_TO_INVEST = 100
CAPACITY_CAP = {"low": 3, "medium": 5, "high": 7}
SHORT_HORIZON_YEARS, SHORT_HORIZON_CAP = 5, 3
SIMPLE_PRODUCTS_ONLY = {"none", "basic"}  # knowledge levels not offered complex products


def advice_policy(messages: list[dict[str, Any]]) -> dict[str, Any]:
    case = json.loads(next(m["content"] for m in messages if m["role"] == "user"))
    results = tool_results(messages)
    missing = [name for name in LOOKUPS if name not in results]
    if missing:
        # Independent lookups: ask for all of them in one turn, so they run in parallel.
        return {
            "tool_calls": [{"name": n, "arguments": {"customer_id": case["customer_id"]}} for n in missing]
        }
    failed = [f"{name}: {body['error']}" for name, body in results.items() if "error" in body]
    if failed:
        rationale = (
            f"Advice needs the customer's full picture, and evidence is missing ({'; '.join(failed)})."
        )
        return _answer("refer", rationale, ["missing evidence"], "", [])
    return draft_advice(*(results[name] for name in LOOKUPS))


def draft_advice(
    holdings: dict[str, Any], spending: dict[str, Any], risk: dict[str, Any], catalogue: dict[str, Any]
) -> dict[str, Any]:
    """The offline model's final answer for one customer's data."""
    target = target_risk(risk)
    products = catalogue["products"]
    fund = _best_product(products, target, risk["knowledge"])
    cash_account = next(p for p in products if p["code"] == "CASH-ISA")
    spend, surplus = spending["monthly_spending"], spending["monthly_surplus"]
    cash = sum(p["value"] for p in holdings["positions"] if p["asset_class"] == "cash")
    months = cash / spend
    rationale = (
        f"Attitude to risk {risk['attitude_to_risk']}/7, capacity for loss {risk['capacity_for_loss']}, "
        f"horizon {risk['horizon_years']} years, knowledge {risk['knowledge']}: target risk {target}/7. "
        f"Portfolio {holdings['total_value']:,}, cash {cash:,} ({months:.1f} months of spending), "
        f"monthly surplus {surplus:,}."
    )
    if surplus < 0:
        rationale += (
            f" Spending exceeds income by {-surplus:,} a month: budgeting and debt guidance come first."
        )
        return _answer("refer", rationale, ["spending exceeds income"], "", [])

    lines, factors = [], []
    shortfall = EMERGENCY_MONTHS * spend - cash
    if shortfall > 0:
        lines.append(
            f"Build an emergency fund of {EMERGENCY_MONTHS * spend:,} (six months of spending) in the "
            f"{_label(cash_account)}: you hold {cash:,} in cash, so add {shortfall:,} before investing more."
        )
        factors.append("emergency fund below six months of spending")
    for position in holdings["positions"]:
        line, factor = _position_advice(
            position, holdings["total_value"], target, fund, products, shortfall > 0
        )
        if line:
            lines.append(line)
            factors.append(factor)
    if shortfall <= 0 and cash > EXCESS_CASH_MONTHS * spend:
        excess = cash - EMERGENCY_MONTHS * spend
        lines.append(f"Invest {excess:,} of cash above your emergency fund in the {_label(fund)}.")
    if shortfall <= 0 and surplus >= MIN_SURPLUS_TO_INVEST:
        monthly = round(surplus / 2 / 50) * 50
        lines.append(
            f"Invest {monthly:,} a month (half of your monthly surplus of {surplus:,}) in the {_label(fund)}, "
            f"keeping the rest as a buffer."
        )
    if not lines:
        text = (
            f"No changes recommended: your holdings match your risk profile ({target}/7), your emergency "
            f"fund covers {months:.1f} months of spending and your charges are low. Review again in 12 months."
        )
        return _answer("no_action", rationale, [], text, [])
    text = "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))
    named = [_product_line(p) for p in products if f"({p['code']}," in text]
    return _answer("advise", f"{rationale} {len(lines)} change(s) recommended.", factors, text, named)


def target_risk(risk: dict[str, Any]) -> int:
    """The highest product risk rating suitable: attitude, capped by capacity and horizon."""
    cap = CAPACITY_CAP.get(risk["capacity_for_loss"], 3)
    if risk["horizon_years"] < SHORT_HORIZON_YEARS:
        cap = min(cap, SHORT_HORIZON_CAP)
    attitude: int = risk["attitude_to_risk"]
    return min(attitude, cap)


def _position_advice(
    position: dict[str, Any],
    total: float,
    target: int,
    fund: dict[str, Any],
    products: list[dict[str, Any]],
    emergency_first: bool,
) -> tuple[str, str]:
    name, risk, charge = position["name"], position["risk_rating"], position["ongoing_charge_pct"]
    if position["asset_class"] == "cash":
        return "", ""
    if position["asset_class"] == "single stock" and position["share"] > MAX_SINGLE_STOCK_SHARE:
        sell = position["value"] - int(total * MAX_SINGLE_STOCK_SHARE)
        into = (
            f"the emergency fund first, then the {_label(fund)}" if emergency_first else f"the {_label(fund)}"
        )
        line = (
            f"Reduce {name} from {position['share']:.0%} of your portfolio to at most "
            f"{MAX_SINGLE_STOCK_SHARE:.0%} (sell about {sell:,}), phased over more than one tax year "
            f"to use the capital gains allowance; put the proceeds into {into}."
        )
        return line, f"concentration: {name} is {position['share']:.0%} of the portfolio"
    if risk > target:
        line = f"Switch {name} (risk {risk}/7) to the {_label(fund)}: it is above your risk profile of {target}/7."
        return line, f"{name} above the risk profile"
    cheaper = [p for p in products if p["risk_rating"] == risk and p["ongoing_charge_pct"] < charge]
    if charge > HIGH_CHARGE_PCT and cheaper:
        better = min(cheaper, key=lambda p: p["ongoing_charge_pct"])
        saving = position["value"] * (charge - better["ongoing_charge_pct"]) / 100
        line = (
            f"Move {name} ({charge:.2f}% a year) to the {_label(better)}, the same risk for "
            f"{better['ongoing_charge_pct']:.2f}% a year: about {saving:,.0f} a year less in charges."
        )
        return line, f"high charges on {name}"
    return "", ""


def _best_product(products: list[dict[str, Any]], target: int, knowledge: str) -> dict[str, Any]:
    """The riskiest product within the target, cheapest first; complex ones only for the informed."""
    suitable = [
        p
        for p in products
        if p["risk_rating"] <= target and not (p["complex"] and knowledge in SIMPLE_PRODUCTS_ONLY)
    ]
    return min(suitable, key=lambda p: (-p["risk_rating"], p["ongoing_charge_pct"]))


def _product_line(product: dict[str, Any]) -> str:
    """A product as the adviser reads it in the proposal: its code first, then the facts."""
    return (
        f"{product['code']}: {product['name']}, risk {product['risk_rating']}/7, "
        f"{product['ongoing_charge_pct']:.2f}% a year"
    )


def _label(product: dict[str, Any]) -> str:
    return f"{product['name']} ({product['code']}, risk {product['risk_rating']}/7)"


def _answer(
    outcome: str,
    rationale: str,
    risk_factors: list[str],
    recommendations: str,
    products: list[str],
) -> dict[str, Any]:
    proposal = {"recommendations": recommendations, "products": products}
    answer = {"outcome": outcome, "rationale": rationale, "risk_factors": risk_factors, "proposal": proposal}
    return {"content": json.dumps(answer)}

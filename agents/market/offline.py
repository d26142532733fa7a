"""How the offline model writes the brief: the three lookups at once, then the answer from them."""

from __future__ import annotations

import json
from typing import Any

from agents.framework.offline_model import submitted_case, tool_results

LOOKUPS = ("market.sentiment", "market.news_summary", "market.competitor_prices")


def market_policy(messages: list[dict[str, Any]]) -> dict[str, Any]:
    case = submitted_case(messages)
    results = tool_results(messages)
    if not all(name in results for name in LOOKUPS):
        week = {"product": case["product"], "week": case["week"]}
        competitors = {"product": case["product"], "competitors": case["competitors"]}
        return {
            "tool_calls": [
                {"name": "market.sentiment", "arguments": week},
                {"name": "market.news_summary", "arguments": week},
                {"name": "market.competitor_prices", "arguments": competitors},
            ]
        }
    mood, news, prices = (results[name] for name in LOOKUPS)
    lean = "positive" if mood["score"] > 0.1 else "negative" if mood["score"] < -0.1 else "mixed"
    answer = {
        "outcome": "brief",
        "rationale": (
            f"Sentiment is {lean} (score {mood['score']}). {news['summary']}. "
            f"Our rate of {prices['ours']} % ranks {prices['rank']} of {len(prices['competitors']) + 1}."
        ),
        "risk_factors": ["price"] if prices["rank"] > 1 else [],
    }
    return {"content": json.dumps(answer)}

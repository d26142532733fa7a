"""The market team's tools (sentiment, news summary, competitor prices: run together in one turn)
and its downstream publish, which is idempotent: Temporal delivers an activity at least once, so
publishing the same run's brief again finds it published and changes nothing."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio import activity

from agents.framework.tools import tool
from agents.framework.types import AgentOutcome
from agents.market.data import headlines, mentions, rate

OUR_BANK = "our bank"
BRIEFS_DIR_ENV = "MARKET_BRIEFS_DIR"


@dataclass
class ProductWeek:
    product: str
    week: str


@dataclass
class Competitors:
    product: str
    competitors: list[str]


@tool("market.sentiment", "How the week's mentions of the product lean: counts and a score from -1 to 1.")
async def sentiment(args: ProductWeek) -> dict[str, Any]:
    counts = mentions(args.product, args.week)
    total = sum(counts.values())
    return {**counts, "score": round((counts["positive"] - counts["negative"]) / total, 3)}


@tool("market.news_summary", "The week's headlines about the product, summarised.")
async def news_summary(args: ProductWeek) -> dict[str, Any]:
    found = headlines(args.product, args.week)
    return {"headlines": found, "summary": f"{len(found)} stories: " + "; ".join(found)}


@tool("market.competitor_prices", "Competitors' rates for the product, and ours.")
async def competitor_prices(args: Competitors) -> dict[str, Any]:
    rates = {bank: rate(bank, args.product) for bank in args.competitors}
    ours = rate(OUR_BANK, args.product)
    return {"ours": ours, "competitors": rates, "rank": 1 + sum(r > ours for r in rates.values())}


@activity.defn(name="market.publish_brief")
async def publish_brief(outcome: AgentOutcome) -> dict[str, Any]:
    """Publish the brief downstream under the run's id; a second delivery is a no-op."""
    brief = {
        "workflow_id": outcome.workflow_id,
        "product": outcome.case["product"],
        "week": outcome.case["week"],
        "brief": outcome.answer.rationale,
        "watch": outcome.answer.risk_factors,
        "evidence": {r.name: r.result for r in outcome.results if r.ok},
    }
    published = _publish(outcome.workflow_id, brief)
    return {"published": outcome.workflow_id, "first_delivery": published, "product": brief["product"]}


def briefs_dir() -> Path:
    return Path(
        os.environ.get(BRIEFS_DIR_ENV) or Path(__file__).resolve().parents[2] / "var" / "market-briefs"
    )


def _publish(key: str, brief: dict[str, Any]) -> bool:
    """Write the brief as `<key>.json` unless it is there already; True if this call wrote it."""
    folder = briefs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{key}.json"
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as tmp:
        json.dump(brief, tmp, sort_keys=True)
    try:
        os.link(tmp.name, target)  # atomic, and fails if a delivery before this one published it
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp.name)
    return True

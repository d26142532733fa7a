"""Market engagement analysis: sentiment, news summary and competitor prices run in parallel and
are aggregated into one brief, published downstream once per run (an idempotent publish)."""

from __future__ import annotations

from pathlib import Path

from agents.framework.ai_act import AiActClass
from agents.framework.demo import DemoCase
from agents.framework.presentation import CaseField, Shown
from agents.framework.prompts import register_prompts
from agents.framework.registry import AgentSpec, register
from agents.market import tools
from agents.market.offline import market_policy

register_prompts(Path(__file__).parent / "prompts")


def demo_cases() -> list[DemoCase]:
    case = {"product": "Everyday Saver", "week": "2026-W48", "competitors": ["North Bank", "Harbour Mutual"]}
    return [DemoCase("everyday-saver-2026-W48", "Market brief: Everyday Saver, 2026-W48", case)]


MARKET_AGENT = register(
    AgentSpec(
        name="market",
        title="Market engagement analysis",
        prompt_id="market.engagement",
        model="gpt-4o-mini",
        tools=(tools.sentiment, tools.news_summary, tools.competitor_prices),
        gate=None,
        on_complete="market.publish_brief",
        outcomes=("brief", "refer"),
        activities=(tools.publish_brief,),
        offline_policy=market_policy,
        ai_act=AiActClass(
            high_risk=False, basis="Not in Annex III: market analysis, no decision about natural persons"
        ),
        demo_cases=demo_cases,
        case_fields=(
            CaseField("product", "Product", column=True, searchable=True),
            CaseField("week", "Week", column=True),
        ),
        evidence={"score": Shown("Sentiment score"), "ours": Shown("Our rate"), "rank": Shown("Our rank")},
    )
)

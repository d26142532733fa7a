"""The market engagement agent on the real dev server: sentiment, news and competitor prices run
at once and are aggregated into one brief, published downstream under the run's id; Temporal
delivers an activity at least once, and a second delivery publishes nothing new."""

from __future__ import annotations

import json

from temporalio.api.enums.v1 import EventType
from temporalio.testing import ActivityEnvironment

from agents.framework.types import AgentOutcome
from agents.market import MARKET_AGENT, demo_cases
from agents.market.tools import BRIEFS_DIR_ENV, publish_brief
from tests.conftest import activities_scheduled_together, agent_input_for, record_history, start_run

LOOKUPS = {"market.sentiment", "market.news_summary", "market.competitor_prices"}


def start_market_run(temporal, queue: str):
    [demo] = demo_cases()
    agent_input = agent_input_for(MARKET_AGENT, demo.subject, demo.case, submitted_by="marketing")
    return start_run(temporal, queue, agent_input, prefix="market")


def publish_input(temporal, handle) -> AgentOutcome:
    """What the run handed its publish activity, decoded from history."""
    for event in temporal.run(handle.fetch_history()).events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == "market.publish_brief":
                payloads = list(attrs.input.payloads)
                return temporal.run(temporal.client.data_converter.decode(payloads, [AgentOutcome]))[0]
    raise AssertionError("the run never published")


def test_the_lookups_run_at_once_and_one_brief_is_published(temporal, worker, monkeypatch, tmp_path):
    monkeypatch.setenv(BRIEFS_DIR_ENV, str(tmp_path))
    handle = start_market_run(temporal, worker)

    result = temporal.run(handle.result(), timeout=60)

    assert activities_scheduled_together(temporal, handle, LOOKUPS) == LOOKUPS
    assert result.outcome == "completed" and result.action == {
        "published": handle.id,
        "first_delivery": True,
        "product": "Everyday Saver",
    }
    [published] = tmp_path.glob("*.json")
    brief = json.loads(published.read_text())
    assert published.name == f"{handle.id}.json" and set(brief["evidence"]) == LOOKUPS
    assert "Sentiment is" in brief["brief"] and "ranks" in brief["brief"]
    record_history(temporal, handle, "market_brief_published")


def test_a_second_delivery_of_the_publish_changes_nothing(temporal, worker, monkeypatch, tmp_path):
    """The worker died after publishing and before Temporal heard: the activity runs again with
    the same input. It finds the brief published and leaves it (and no temporary file) alone."""
    monkeypatch.setenv(BRIEFS_DIR_ENV, str(tmp_path))
    handle = start_market_run(temporal, worker)
    first = temporal.run(handle.result(), timeout=60)
    published = (tmp_path / f"{handle.id}.json").read_bytes()

    again = temporal.run(ActivityEnvironment().run(publish_brief, publish_input(temporal, handle)))

    assert first.action["first_delivery"] is True and again["first_delivery"] is False
    assert [p.name for p in tmp_path.iterdir()] == [f"{handle.id}.json"]
    assert (tmp_path / f"{handle.id}.json").read_bytes() == published

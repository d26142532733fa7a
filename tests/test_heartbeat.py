"""Long activities heartbeat every few seconds so a crashed worker is noticed within the heartbeat
timeout (agents/framework/heartbeat.py); a call done within the interval never heartbeats, since
each heartbeat is a round trip to the server, and every model call and tool used to send one at
once. Run in the SDK's activity environment, which hands heartbeats to the test."""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise

from temporalio import activity
from temporalio.testing import ActivityEnvironment

from agents.framework.heartbeat import heartbeating


def beats_while(seconds: float, every: float) -> int:
    """How many heartbeats an activity whose body takes `seconds` sends, beating `every`."""
    beats: list[object] = []
    environment = ActivityEnvironment()
    environment.on_heartbeat = lambda *details: beats.append(details)

    @activity.defn(name="sleeper")
    async def sleeper() -> None:
        async with heartbeating(every):
            await asyncio.sleep(seconds)

    asyncio.run(environment.run(sleeper))
    return len(beats)


def test_a_call_done_within_the_interval_never_heartbeats():
    assert beats_while(0.05, every=0.5) == 0


def test_a_long_call_heartbeats_every_interval_until_it_is_done():
    """The body runs until it has seen three heartbeats (however late a loaded machine sends them),
    then the activity waits a few intervals more: no heartbeat comes sooner than the interval, nor
    once the body is done."""
    every = 0.25
    beats: list[float] = []
    three = asyncio.Event()
    environment = ActivityEnvironment()

    def beat(*details: object) -> None:
        beats.append(time.monotonic())
        if len(beats) == 3:
            three.set()

    environment.on_heartbeat = beat

    @activity.defn(name="sleeper")
    async def sleeper() -> float:
        started = time.monotonic()
        async with heartbeating(every):
            await asyncio.wait_for(three.wait(), timeout=10)
        await asyncio.sleep(3 * every)
        return started

    started = asyncio.run(environment.run(sleeper))

    assert len(beats) == 3  # none once the body was done
    gaps = [later - earlier for earlier, later in pairwise([started, *beats])]
    assert min(gaps) >= 0.9 * every, gaps  # the first an interval after the start, each next one too


def test_outside_an_activity_it_does_nothing():
    async def body() -> str:
        async with heartbeating(0.01):
            await asyncio.sleep(0.05)
        return "done"

    assert asyncio.run(body()) == "done"

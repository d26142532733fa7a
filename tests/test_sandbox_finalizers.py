"""Finalizers the garbage collector runs on a workflow's thread (agents/framework/sandbox.py).

channels-redis leaves a redis.asyncio pool per event loop it served, in a reference cycle, with
its closed connection still listed; whichever thread next collects garbage runs the pool's
`__del__`, which imports `redis.observability` lazily. On a workflow's thread, inside a run's
sandbox, that import gave the run a fresh copy of the whole redis package, with a warning for
each of its modules (33 in one of CI's production passes): noise that could hide a real import
from workflow code, and a copy kept for as long as the run stays cached."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import pytest
import redis.asyncio

from tests.test_sandbox import probe_module, run_probe

COLLECTING_PROBE = """
import gc

from temporalio import workflow


@workflow.defn(name="CollectingProbe")
class CollectingProbe:
    @workflow.run
    async def run(self) -> str:
        gc.collect()
        return "collected"
"""


@pytest.fixture
def collecting_probe(tmp_path, monkeypatch) -> Iterator[type]:
    """A workflow that collects garbage on its own thread, as any allocation there may."""
    yield from probe_module(tmp_path, monkeypatch, COLLECTING_PROBE, "CollectingProbe")


def left_pool(collected_on: list[str]) -> None:
    """A pool as channels-redis leaves one: its idle connection listed, in a cycle, unreachable;
    `collected_on` gets the name of the thread that collects it."""
    pool = redis.asyncio.ConnectionPool()
    pool._available_connections.append(pool.make_connection())
    pool.cycle = pool  # type: ignore[attr-defined]
    weakref.finalize(pool, lambda: collected_on.append(threading.current_thread().name))


@pytest.mark.parametrize("sandbox", ["strict", "shared"])
def test_a_redis_pool_collected_on_a_workflow_thread_imports_nothing_into_the_sandbox(
    temporal, collecting_probe, sandbox, recwarn
):
    collected_on: list[str] = []
    gc.collect()
    gc.disable()  # the pool waits for the workflow's collection
    try:
        left_pool(collected_on)
        result, failures = run_probe(temporal, collecting_probe, sandbox)
    finally:
        gc.enable()

    assert (result, failures) == ("collected", [])
    assert len(collected_on) == 1 and collected_on[0].startswith("temporal_workflow")
    assert not [w for w in recwarn if "imported after initial workflow load" in str(w.message)]

"""The ways a run's start is made, as benchmarks/start_burst.py swaps them into the intake service
(`services.start_on_client_loop`): the old per-call `async_to_sync`, or the client loop, each
timed as the service waits on it; and, as the bound on both, starts straight from the Client."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any


def before_path(coroutine: Coroutine[Any, Any, Any]) -> Future[Any]:
    """What the services did before: async_to_sync, a fresh event loop and thread per call (the
    caller waits for it whole)."""
    from asgiref.sync import async_to_sync

    async def run() -> Any:
        return await coroutine

    done: Future[Any] = Future()
    try:
        done.set_result(async_to_sync(run)())
    except Exception as err:
        done.set_exception(err)
    return done


class TimedStart:
    """The start's future as the service waits on it, timing the wait: the start itself, queue
    included, or the submitter's wait (START_WAIT_SECONDS) when that is shorter."""

    def __init__(self, future: Future[Any], into: list[float], began: float) -> None:
        self.future, self.into, self.began = future, into, began

    def result(self, timeout: float | None = None) -> Any:
        try:
            return self.future.result(timeout)
        finally:
            self.into.append((time.perf_counter() - self.began) * 1000)

    def add_done_callback(self, fn: Callable[[Future[Any]], object]) -> None:
        self.future.add_done_callback(fn)


def timed(start_on: Callable[..., Future[Any]], into: list[float]) -> Callable[..., TimedStart]:
    """`start_on`, each start's wait kept in `into`."""

    def start(coroutine: Coroutine[Any, Any, Any]) -> TimedStart:
        began = time.perf_counter()
        return TimedStart(start_on(coroutine), into, began)

    return start


async def bare_starts(n: int, task_queue: str) -> list[float]:
    """`n` starts at once from the process's Client, each timed: the server's own pace."""
    from reviewer_portal.temporal_client import get_client

    client = await get_client()
    took: list[float] = []

    async def one() -> None:
        began = time.perf_counter()
        await client.start_workflow("StartBurstBare", id=f"bare-{uuid.uuid4()}", task_queue=task_queue)
        took.append((time.perf_counter() - began) * 1000)

    await asyncio.gather(*(one() for _ in range(n)))
    return took


def cpu_per_submission(submit: Callable[[str], None], n: int) -> float:
    """Milliseconds of this process's CPU per submission, `n` made one after another: the record,
    the seal, the start's encoding and its call on the client loop. One interpreter runs a burst's
    submissions, so `n` at once need at least `n` times this of it, however they are scheduled."""
    began = time.process_time()
    for _ in range(n):
        submit(str(uuid.uuid4()))
    return (time.process_time() - began) / n * 1000

"""What the worker-crash test watches, off unless its variables are set: each execution of an
activity of this agent counted on disk, and inferences slowed down so a worker can be killed
between them. Both are read when an activity runs, so only the worker's environment sets them."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from temporalio import activity

# A folder of counters: <workflow id>/<activity type>, one line per execution.
EXECUTIONS_DIR_ENV = "CREDIT_OUTLOOK_EXECUTIONS_DIR"
INFERENCE_DELAY_ENV = "CREDIT_OUTLOOK_INFERENCE_DELAY_SECONDS"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def record_execution() -> None:
    """Count this activity execution (call only inside an activity)."""
    folder = os.environ.get(EXECUTIONS_DIR_ENV)
    if not folder:
        return
    info = activity.info()
    counters = Path(folder) / _UNSAFE.sub("_", info.workflow_id or "none")
    counters.mkdir(parents=True, exist_ok=True)
    with open(counters / info.activity_type, "a") as counter:
        counter.write(f"attempt={info.attempt}\n")


def executions(folder: Path, workflow_id: str) -> dict[str, int]:
    """How often each activity of a run executed, by activity type."""
    counters = folder / _UNSAFE.sub("_", workflow_id)
    if not counters.is_dir():
        return {}
    return {path.name: len(path.read_text().splitlines()) for path in counters.iterdir()}


async def inference_pause() -> None:
    """The slow part of an inference, as long as the environment asks (none by default)."""
    seconds = float(os.environ.get(INFERENCE_DELAY_ENV) or 0)
    if seconds > 0:
        await asyncio.sleep(seconds)

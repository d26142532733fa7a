"""What the histories of a sample of gate_throughput.py's runs say: errors by kind (failed or
timed-out activities and workflow tasks, activity retries), sticky workflow-task timeouts and
events per run; and where a run that reached no gate stands."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHistory

    from benchmarks.gate_throughput import Round

HISTORY_CONCURRENCY = 8


async def explain(client: Client, workflow_id: str, missing: int) -> None:
    """Say where one of the runs that reached no gate stands (its last events)."""
    from temporalio.api.enums.v1 import EventType

    history = await client.get_workflow_handle(workflow_id).fetch_history()
    tail = [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events[-6:]]
    print(f"{missing} runs reached no gate; {workflow_id} ends with {', '.join(tail)}", file=sys.stderr)


async def check_histories(client: Client, workflow_ids: list[str], figures: Round) -> None:
    """Errors, sticky timeouts and event counts, from the histories of runs that reached their gate."""
    limit = asyncio.Semaphore(HISTORY_CONCURRENCY)

    async def one(workflow_id: str) -> None:
        async with limit:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        errors, sticky, events = history_figures(history)
        figures.errors += sum(errors.values())
        for kind, count in errors.items():
            figures.kinds[kind] = figures.kinds.get(kind, 0) + count
        figures.sticky_timeouts += sticky
        figures.events.append(events)

    await asyncio.gather(*(one(w) for w in workflow_ids))


def history_figures(history: WorkflowHistory) -> tuple[dict[str, int], int, int]:
    """(errors by kind, sticky workflow-task timeouts, events)."""
    from temporalio.api.enums.v1 import EventType, TimeoutType

    errors: dict[str, int] = {}
    sticky = 0
    events = len(history.events)
    for event in history.events:
        if event.HasField("workflow_task_timed_out_event_attributes"):
            timeout = event.workflow_task_timed_out_event_attributes.timeout_type
            if timeout == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START:
                sticky += 1
            else:
                errors["workflow task timed out"] = errors.get("workflow task timed out", 0) + 1
        elif any(
            event.HasField(f)
            for f in (
                "workflow_task_failed_event_attributes",
                "activity_task_failed_event_attributes",
                "activity_task_timed_out_event_attributes",
                "workflow_execution_failed_event_attributes",
            )
        ):
            kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower()
            errors[kind] = errors.get(kind, 0) + 1
        elif (
            event.HasField("activity_task_started_event_attributes")
            and event.activity_task_started_event_attributes.attempt > 1
        ):
            errors["activity retried"] = errors.get("activity retried", 0) + 1
    return errors, sticky, events

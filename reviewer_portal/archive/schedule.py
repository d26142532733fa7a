"""The Temporal Schedule that runs the archiving workflow (no cron, no Celery): every
ARCHIVE_EVERY_MINUTES, skipped while the previous pass still runs. `make dev` and `manage.py
archive_schedule` create it, or update it to the current settings; `temporal schedule list`
shows it."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from reviewer_portal.archive.workflow import ARCHIVE_WORKFLOW, ArchiveRequest

SCHEDULE_ID = "audit-archive"


def archive_schedule() -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ARCHIVE_WORKFLOW,
            ArchiveRequest(),
            id="audit-archive-pass",
            task_queue=settings.ARCHIVE_TASK_QUEUE,
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(minutes=settings.ARCHIVE_EVERY_MINUTES))]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedule(client: Client) -> str:
    """Create the Schedule, or bring an existing one to the current settings; says which."""
    schedule = archive_schedule()
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
        return "created"
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(SCHEDULE_ID).update(replace)
        return "updated"

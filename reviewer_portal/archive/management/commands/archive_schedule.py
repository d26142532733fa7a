"""`python manage.py archive_schedule`: create the Temporal Schedule that archives closed runs,
or bring it to the current settings (run it on each deploy; `make dev` does)."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.management.base import BaseCommand

from reviewer_portal.archive.schedule import SCHEDULE_ID, ensure_schedule
from reviewer_portal.temporal_client import get_client


class Command(BaseCommand):
    help = "Create or update the Temporal Schedule of the archiving workflow."

    def handle(self, *args: object, **options: object) -> None:
        outcome = async_to_sync(_ensure)()
        self.stdout.write(
            f"Schedule {SCHEDULE_ID} {outcome} in namespace {settings.TEMPORAL_NAMESPACE}: every "
            f"{settings.ARCHIVE_EVERY_MINUTES} min on task queue {settings.ARCHIVE_TASK_QUEUE}."
        )


async def _ensure() -> str:
    return await ensure_schedule(await get_client())

"""`python manage.py reconcile`: rebuild the gate projection from Temporal."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandParser

from reviewer_portal.inbox.reconcile import projection_reconcile
from reviewer_portal.temporal_client import get_client


class Command(BaseCommand):
    help = "Re-read every agent run's gates from Temporal and update the portal's projection."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--task-queue", default="", help="only runs on this task queue")

    def handle(self, *args: object, task_queue: str = "", **options: object) -> None:
        done = projection_reconcile(client=async_to_sync(get_client)(), task_queue=task_queue)
        if done.unanswered:
            self.stderr.write(
                f"No worker answered for {len(done.unanswered)} running runs: {', '.join(done.unanswered)}"
            )
        self.stdout.write(
            f"Reconciled {done.gates_read} gates from Temporal; {done.rows_changed} projection rows changed."
        )

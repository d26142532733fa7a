"""`python manage.py reconcile`: rebuild the gate projection from Temporal."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandParser

from reviewer_portal.domains import namespaces
from reviewer_portal.inbox.reconcile import projection_reconcile
from reviewer_portal.temporal_client import get_client


class Command(BaseCommand):
    help = "Re-read every agent run's gates from Temporal and update the portal's projection."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--task-queue", default="", help="only runs on this task queue")

    def handle(self, *args: object, task_queue: str = "", **options: object) -> None:
        read = changed = 0
        unanswered: list[str] = []
        refused: list[str] = []
        for namespace in namespaces():  # every domain's runs
            done = projection_reconcile(client=async_to_sync(get_client)(namespace), task_queue=task_queue)
            read, changed = read + done.gates_read, changed + done.rows_changed
            unanswered, refused = unanswered + done.unanswered, refused + done.refused
        for refusal in refused:
            self.stderr.write(f"Not applied: {refusal}")
        if unanswered:
            self.stderr.write(
                f"No worker answered for {len(unanswered)} running runs: {', '.join(unanswered)}"
            )
        self.stdout.write(f"Reconciled {read} gates from Temporal; {changed} projection rows changed.")

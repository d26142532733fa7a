"""`python manage.py archive_runs [--purge]`: archive every closed run that is due, now (what the
Schedule's workflow does), and print the chain heads."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from temporalio.service import RPCError

from reviewer_portal.archive import archiver
from reviewer_portal.archive.models import ChainHead
from reviewer_portal.temporal_client import TemporalUnreachable


class Command(BaseCommand):
    help = "Archive every closed agent run not archived yet (and purge expired records with --purge)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=100, help="runs archived per pass")
        parser.add_argument(
            "--purge", action="store_true", help="then purge records past ARCHIVE_RETENTION_DAYS"
        )

    def handle(self, *args: object, batch: int, purge: bool, **options: object) -> None:
        if batch < 1:
            raise CommandError("--batch must be at least 1.")
        archived = failed = 0
        while True:
            try:
                done = archiver.archive_due(limit=batch)
            except (TemporalUnreachable, RPCError) as err:
                raise CommandError(
                    f"Temporal could not list the closed runs ({err}); {archived} archived before that, "
                    "the rest stay due for the next pass."
                ) from None
            archived, failed = archived + done.archived, failed + done.failed
            if not done.more:
                break
        self.stdout.write(f"Archived {archived} run(s); {failed} could not be archived (see the log).")
        if purge:
            self.stdout.write(f"Purged {archiver.purge_expired()} record(s) past the archive's retention.")
        for head in ChainHead.objects.order_by("namespace"):
            self.stdout.write(f"Chain head of {head.namespace}: #{head.seq} {head.record_hash}")
        if failed:
            raise SystemExit(1)

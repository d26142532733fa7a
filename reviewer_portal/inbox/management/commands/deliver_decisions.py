"""`python manage.py deliver_decisions [--every SECONDS]`: send the reviewer actions (decisions,
notes, claims) recorded while Temporal or the worker was unreachable, settle withdrawals, and
start the runs of submissions Temporal was too busy to confirm (reviewer_portal.intake.pending_starts)."""

from __future__ import annotations

import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from reviewer_portal.inbox.models import ActionAttempt
from reviewer_portal.inbox.outcomes import redelivery_report
from reviewer_portal.inbox.redelivery import actions_redeliver
from reviewer_portal.intake.pending_starts import pending_starts_run

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Send queued reviewer actions and settle withdrawals; --every to keep at it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=float, default=0, help="repeat every N seconds until stopped")

    def handle(self, *args: object, every: float = 0, **options: object) -> None:
        stop = threading.Event()
        if every:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
        while True:
            close_old_connections()
            handled = _redelivered()
            if handled:
                self.stdout.write(redelivery_report(handled))
            for workflow_id in _pending_starts():
                self.stdout.write(f"started {workflow_id} (kept while Temporal was busy)")
            if not every or stop.wait(every):
                return


def _redelivered() -> list[ActionAttempt]:
    """This pass's deliveries; whatever goes wrong (the database down), the loop goes on."""
    try:
        return actions_redeliver()
    except Exception:
        log.exception("Queued actions not delivered this pass")
        return []


def _pending_starts() -> list[str]:
    """The kept submissions' starts; whatever goes wrong there, decisions are still delivered."""
    try:
        return pending_starts_run()
    except Exception:
        log.exception("Kept submissions not started this pass")
        return []

"""`python manage.py deliver_decisions [--every SECONDS]`: send recorded decisions that have not
reached their workflow yet (Temporal or the worker was down when the reviewer decided)."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from reviewer_portal.inbox.services import decisions_redeliver


class Command(BaseCommand):
    help = "Deliver recorded decisions that have not reached their workflow yet; --every to keep at it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=float, default=0, help="repeat every N seconds until stopped")

    def handle(self, *args: object, every: float = 0, **options: object) -> None:
        stop = threading.Event()
        if every:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
        while True:
            close_old_connections()
            delivered = decisions_redeliver()
            if delivered:
                outcomes = ", ".join(f"{a.update_id}: {a.status}" for a in delivered)
                self.stdout.write(f"Delivered {len(delivered)} recorded decisions ({outcomes}).")
            if not every or stop.wait(every):
                return

"""`python manage.py audit_verify FILE`: verify an audit export offline (no database, no Temporal
server). Exits 0 with a one-line summary, or 1 naming the first thing wrong."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser

from reviewer_portal.archive.verify import Tampered, verify_export


class Command(BaseCommand):
    help = "Verify an audit export offline: the chain, the content, every event and every signature."
    requires_system_checks: list[str] = []  # reads only the file

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: object, file: Path, **options: object) -> None:
        try:
            verified = verify_export(file.read_bytes())
        except OSError as err:
            self.stderr.write(f"FAILED: cannot read {file}: {err.strerror}")
            raise SystemExit(1) from None
        except Tampered as err:
            self.stderr.write(f"FAILED: {err}")
            raise SystemExit(1) from None
        self.stdout.write(verified.summary)

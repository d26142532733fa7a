"""`python manage.py audit_verify FILE [--portal-keys KEYRING]`: verify an audit export offline (no
database, no Temporal server). The trust root is the portal's public keys: a keyring the bank
published (`signing_key keyring`), or by default the keys this installation's settings hold; never
keys written into the file. Exits 0 with a one-line summary, or 1 naming the first thing wrong."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser
from temporalio.converter import value_to_type

from agents.framework.types import VerifyingKey
from reviewer_portal.archive.export_shape import MAX_EXPORT_BYTES, Tampered
from reviewer_portal.archive.verify import verify_export
from reviewer_portal.trust.public_keys import verification_keyring


class Command(BaseCommand):
    help = "Verify an audit export offline: content, chain, events, reviewer actions and the signed anchor."
    requires_system_checks: list[str] = []  # reads only the file (and the keyring)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--portal-keys",
            type=Path,
            help="the portal's published keyring (JSON); default: this portal's keys",
        )

    def handle(self, *args: object, file: Path, portal_keys: Path | None, **options: object) -> None:
        try:
            keys = _keyring(portal_keys) if portal_keys else verification_keyring()
            with file.open("rb") as exported:  # a byte past the limit is enough to refuse it
                data = exported.read(MAX_EXPORT_BYTES + 1)
            verified = verify_export(data, portal_keys=keys)
        except OSError as err:
            self.stderr.write(f"FAILED: cannot read {err.filename}: {err.strerror}")
            raise SystemExit(1) from None
        except Tampered as err:
            self.stderr.write(f"FAILED: {err}")
            raise SystemExit(1) from None
        self.stdout.write(verified.summary)


def _keyring(path: Path) -> list[VerifyingKey]:
    try:
        return [value_to_type(VerifyingKey, key) for key in json.loads(path.read_text())]
    except (ValueError, TypeError) as err:
        raise Tampered(f"The keyring {path} is not a JSON list of key ids and public keys ({err}).") from None

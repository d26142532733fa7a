"""`python manage.py payload_keys new|rotate|show`: the AES-256 keys payloads are encrypted with.

payload_keys new --out FILE [--namespace NS ...]    keys for these namespaces (mode 0600)
payload_keys rotate --out FILE --namespace NS       the configured keys with a new current key
                                                    for NS; the old ones stay, to decrypt
payload_keys show                                   namespaces, key ids and which is current
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.framework.codec import generate, rotate
from reviewer_portal.codec.keys import payload_keys, write_keys
from reviewer_portal.domains import namespaces as all_namespaces


class Command(BaseCommand):
    help = "Create, rotate or show the payload encryption keys (one set per Temporal namespace)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("operation", choices=["new", "rotate", "show"])
        parser.add_argument("--out", type=Path, help="file to write the keys to (new, rotate)")
        parser.add_argument("--namespace", action="append", dest="namespaces", help="namespace(s)")

    def handle(self, *args: object, operation: str, out: Path | None, namespaces: list[str] | None,
               **options: object) -> None:  # fmt: skip
        if operation == "show":
            keys = payload_keys()
            for name, spec in sorted(keys.namespaces.items()):
                ids = ", ".join(f"{kid}{' (current)' if kid == spec.current else ''}" for kid in spec.keys)
                self.stdout.write(f"{name}: {ids}{'  [development keys]' if keys.dev else ''}")
            return
        if out is None:
            raise CommandError(f"{operation} needs --out FILE: where to write the keys.")
        if out.exists():
            raise CommandError(f"{out} exists; a key file is never overwritten.")
        if operation == "new":
            keys = generate(namespaces or all_namespaces())
        else:
            if not namespaces or len(namespaces) != 1:
                raise CommandError("rotate takes one --namespace.")
            try:
                keys = rotate(payload_keys(), namespaces[0], f"k{datetime.now(UTC):%Y%m%dT%H%M%S}")
            except (ValueError, LookupError) as err:
                raise CommandError(str(err)) from err
        write_keys(out, keys.to_json())
        self.stdout.write(
            f"Wrote payload keys for {', '.join(sorted(keys.namespaces))} to {out} (mode 0600)."
        )

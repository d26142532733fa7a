"""`python manage.py signing_key new|rotate|show`: the portal's key for signing reviewer actions.

signing_key new --out FILE        a first key (a new file, mode 0600; never overwrites)
signing_key rotate --out FILE     a new key endorsed by the configured one, for runs in flight
signing_key show                  the configured key's id, public key and endorsement chain
signing_key public [--merge F]    the configured key's public key as a keyring of one, for the
                                  workers (PORTAL_PUBLIC_KEYS_FILE); with --merge, added to the keys
                                  in F (during a rotation the workers hold the current and the next)
signing_key archive-key --out F   a key for the archiving sidecar, endorsed for archiving (only)
                                  by the configured key: ARCHIVE_SIGNING_KEY_FILE
signing_key keyring [--merge F]   the public keys of the whole endorsement chain, for auditors
                                  (audit_verify --portal-keys); with --merge, added to the keyring in
                                  F, so an auditor's keyring keeps every key ever used
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.framework.types import VerifyingKey
from reviewer_portal.trust.archive_key import new_archive_key
from reviewer_portal.trust.keys import (
    SigningKey,
    dropped_from_chain,
    generate,
    portal_keyring,
    rotate,
    signing_key,
    write_new,
)
from reviewer_portal.trust.public_keys import current_key, keyring_from_json, merged_keyring


class Command(BaseCommand):
    help = "Create, rotate or show the portal's Ed25519 key for signing reviewer actions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "operation", choices=["new", "rotate", "show", "keyring", "public", "archive-key"]
        )
        parser.add_argument("--out", type=Path, help="file to write the new key to (new, rotate)")
        parser.add_argument("--key-id", default="", help="id of the new key (default: from the time)")
        parser.add_argument(
            "--merge", type=Path, help="keyring, public: a published keyring to add the keys to"
        )

    def handle(
        self,
        *args: object,
        operation: str,
        out: Path | None,
        key_id: str,
        merge: Path | None = None,
        **options: object,
    ) -> None:
        if operation in ("keyring", "public"):
            keys = portal_keyring() if operation == "keyring" else current_key()
            self.stdout.write(json.dumps([asdict(k) for k in self._merged(keys, merge)], indent=1))
            return
        if operation == "show":
            key = signing_key()
            self.stdout.write(f"key id:     {key.key_id}{' (development key)' if key.dev else ''}")
            self.stdout.write(f"public key: {key.public_key}")
            for e in key.endorsements:
                self.stdout.write(f"endorses:   {e.key_id} by {e.endorsed_by}")
            return
        if out is None:
            raise CommandError(f"{operation} needs --out FILE: where to write the new private key.")
        if out.exists():
            raise CommandError(f"{out} exists; a key file is never overwritten.")
        try:
            new = self._new_key(operation, key_id)
        except ValueError as err:
            raise CommandError(str(err)) from err
        write_new(out, new)
        self.stdout.write(f"Wrote key {new.key_id} to {out} (mode 0600).")
        if operation == "archive-key":
            self.stdout.write(
                "Point the archiving sidecar's ARCHIVE_SIGNING_KEY_FILE at it and leave the portal's key out "
                f"of that process; checkpoints it signs verify through the endorsement by {new.endorsements[0].endorsed_by}."
            )
        if operation == "rotate":
            self.stdout.write(
                "Point PORTAL_SIGNING_KEY_FILE at it and restart the portal processes: runs in flight "
                f"accept it through its endorsement by {new.endorsements[-1].endorsed_by}; new runs pin it."
            )
            dropped = dropped_from_chain(signing_key(), new)
            if dropped:
                self.stdout.write(
                    f"Runs that pinned {', '.join(dropped)} (more than {len(new.endorsements)} rotations ago) "
                    "can no longer be acted on."
                )

    def _merged(self, keys: list[VerifyingKey], merge: Path | None) -> list[VerifyingKey]:
        if merge is None:
            return keys
        try:
            published = keyring_from_json(merge.read_text())
            return merged_keyring([VerifyingKey(*item) for item in published.items()], keys)
        except (OSError, ImproperlyConfigured, ValueError) as err:
            raise CommandError(f"Cannot merge into {merge}: {err}") from err

    def _new_key(self, operation: str, key_id: str) -> SigningKey:
        if operation == "new":
            return generate(key_id=key_id)
        if operation == "archive-key":
            return new_archive_key(signing_key(), key_id=key_id)
        return rotate(signing_key(), key_id=key_id)

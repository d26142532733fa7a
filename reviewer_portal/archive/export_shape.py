"""What an audit export file may hold, before anything in it is verified
(reviewer_portal.archive.verify): JSON with no repeated key and no constant, of this format, and
only the keys a verification step checks (the *_KEYS below): anything else a reader could take
for part of what was verified.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import fields
from typing import Any

from agents.framework.reviewer_actions import KeyEndorsement
from reviewer_portal.archive.hashing import HEADER_FIELDS

TRAIL_FIELDS = ("workflow_id", "run_id", "status", "runs", "entries")
EXPORT_FORMAT = "reviewer-portal/audit-export/v1"  # the one reviewer_portal.archive.export writes
# Every key an export may hold, each checked by a step below. A record's content (the run's
# record only) is checked whole, against its hash.
EXPORT_KEYS = frozenset({"format", *TRAIL_FIELDS, "archive"})
ARCHIVE_KEYS = frozenset({"records", "signed", "head"})
RECORD_KEYS = frozenset({"header", "record_hash"})
SIGNED_KEYS = frozenset({"namespace", "seq", "record_hash", "key_id", "value", "endorsements"})
ENDORSEMENT_KEYS = frozenset(field.name for field in fields(KeyEndorsement))
HEAD_KEYS = frozenset({"namespace", "seq", "record_hash"})
# An export carries one run's histories and trail: tens of megabytes for a long continue-as-new
# chain (Temporal ends a run whose history reaches 50 MB). A larger file is refused unread.
MAX_EXPORT_BYTES = 256 * 1024 * 1024


class Tampered(Exception):
    """The first thing wrong with an export, in words."""


def parsed_export(data: bytes) -> dict[str, Any]:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        if len(keys) != len(set(keys)):
            raise Tampered(f"The file repeats a key ({sorted(k for k in keys if keys.count(k) > 1)[0]!r}): "
                           "a reader could be shown another value than the one verified.")  # fmt: skip
        return dict(pairs)

    def no_constants(name: str) -> Any:
        raise Tampered(f"The file holds {name}, which is not JSON.")

    try:
        export = json.loads(data, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise Tampered(f"The file is not an audit export (not JSON: {err}).") from None
    if not isinstance(export, dict) or not str(export.get("format", "")).startswith(
        "reviewer-portal/audit-export/"
    ):
        raise Tampered("The file is not an audit export of the reviewer portal.")
    if export["format"] != EXPORT_FORMAT:
        raise Tampered(
            f"The file is an audit export in a format this audit_verify does not know ({export['format']!r})."
        )
    return export


def refuse_unchecked(export: dict[str, Any]) -> None:
    """Fail on any key no step checks. Only where the shape is right: the steps name the rest."""
    _only(export, EXPORT_KEYS, "The export")
    archive = export.get("archive")
    if not isinstance(archive, dict):
        return
    _only(archive, ARCHIVE_KEYS, "The export's archive")
    records = archive.get("records")
    for number, record in enumerate(records if isinstance(records, list) else []):
        header = record.get("header") if isinstance(record, dict) else None
        where = f"Record #{header.get('seq') if isinstance(header, dict) else '?'}"
        _only(record, RECORD_KEYS | ({"content"} if number == 0 else set()), where)
        _only(header, HEADER_FIELDS, f"{where}'s header")  # its hash covers these only
    signed = archive.get("signed")
    _only(signed, SIGNED_KEYS, "The portal's signature")
    endorsements = signed.get("endorsements") if isinstance(signed, dict) else None
    for endorsement in endorsements if isinstance(endorsements, list) else []:
        _only(endorsement, ENDORSEMENT_KEYS, "An endorsement of the portal's signing key")
    _only(archive.get("head"), HEAD_KEYS, "The export's chain head")


def _only(part: Any, allowed: Collection[str], where: str) -> None:
    if isinstance(part, dict) and (unchecked := sorted(set(part) - set(allowed))):
        raise Tampered(
            f"{where} carries {unchecked[0]!r}, which audit_verify does not check: "
            "a reader could take it for verified."
        )

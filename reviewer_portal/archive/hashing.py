"""How archive records are hashed and chained. Pure functions without Django, so the offline
verifier (verify.py, `manage.py audit_verify`) computes exactly what the archive did.

A record's hash covers its header (namespace, position, kind, run, times, the previous record's
hash) and the sha256 of its content as canonical JSON; the first record of a namespace follows
GENESIS. Changing a byte of any record's content or header, or removing a record, breaks every
hash after it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

PREFIX = b"reviewer-portal/archive-record/v1\n"
CHECKPOINT_PREFIX = b"reviewer-portal/archive-checkpoint/v1\n"
# The portal signs every record as it appends it. An export carries the headers from its run's
# record to the next checkpoint (every this many records) or the head, and that record's
# signature: never the whole chain, and nothing signed at export time.
CHECKPOINT_EVERY = 100
GENESIS = "0" * 64
HEADER_FIELDS = (
    "namespace",
    "seq",
    "kind",
    "workflow_id",
    "run_id",
    "closed_at",
    "archived_at",
    "prev_hash",
    "content_sha256",
)


def canonical(value: Any) -> bytes:
    """One byte string per JSON value, on every platform: sorted keys, no spaces, ASCII."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def content_sha256(content: Any) -> str:
    return hashlib.sha256(canonical(content)).hexdigest()


def record_hash(header: dict[str, Any]) -> str:
    missing = [name for name in HEADER_FIELDS if name not in header]
    if missing:
        raise ValueError(f"record header lacks {', '.join(missing)}")
    return hashlib.sha256(PREFIX + canonical({name: header[name] for name in HEADER_FIELDS})).hexdigest()


def checkpoint_message(namespace: str, seq: int, record_hash_: str) -> bytes:
    """What the portal signs to vouch for the chain up to record `seq` (no time: the same head
    signs the same, so two exports of an unmoved chain are equal)."""
    return CHECKPOINT_PREFIX + canonical({"namespace": namespace, "seq": seq, "record_hash": record_hash_})

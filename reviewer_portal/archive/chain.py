"""Appending to a namespace's archive chain: the content is sealed with the namespace's payload
key, the record hashed onto the chain head, and the head moved, in one transaction that holds the
head's row lock so appends of one namespace follow one another. Each move is logged."""

from __future__ import annotations

import json
import logging
import zlib
from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.framework.codec import KeyNotFound
from agents.framework.sealed_files import MAGIC, seal, unseal
from reviewer_portal.archive.hashing import (
    GENESIS,
    canonical,
    checkpoint_message,
    content_sha256,
    record_hash,
)
from reviewer_portal.archive.models import ArchiveRecord, ChainHead
from reviewer_portal.codec.keys import payload_keys
from reviewer_portal.trust.archive_key import checkpoint_key

log = logging.getLogger(__name__)


def append(
    *,
    namespace: str,
    kind: str,
    content: dict[str, Any],
    workflow_id: str = "",
    run_id: str = "",
    closed_at: datetime | None = None,
    **index: str,
) -> ArchiveRecord:
    """Add `content` as the next record of `namespace`'s chain and return it."""
    body = canonical(content)
    with transaction.atomic():
        head = _locked_head(namespace)
        record = ArchiveRecord(
            namespace=namespace,
            seq=head.seq + 1,
            kind=kind,
            workflow_id=workflow_id,
            run_id=run_id,
            closed_at=closed_at,
            archived_at=timezone.now(),
            prev_hash=head.record_hash,
            content_sha256=content_sha256(content),
            **index,
        )
        record.record_hash = record_hash(header(record))
        record.signature = signed_checkpoint(namespace, record.seq, record.record_hash)
        record.sealed = seal(payload_keys().of(namespace), namespace, _name(record), zlib.compress(body, 6))
        record.size = len(record.sealed)
        record.save()
        head.seq, head.record_hash, head.moved_at = record.seq, record.record_hash, record.archived_at
        head.save()
    log.info(
        "archive chain %s moved to #%d sha256:%s (%s %s)",
        namespace,
        record.seq,
        record.record_hash,
        kind,
        workflow_id,
    )
    return record


class RecordAltered(Exception):
    """The stored record does not open, or no longer matches its hashes; the message says which."""


def signed_checkpoint(namespace: str, seq: int, hash_: str) -> dict[str, Any]:
    """The signature of the chain up to record `seq` (key id, value, endorsements), by the archive's
    key (reviewer_portal.trust.archive_key), or the portal's where the archive has none."""
    key = checkpoint_key()
    return {
        "key_id": key.key_id,
        "value": key.sign(checkpoint_message(namespace, seq, hash_)),
        "endorsements": [asdict(e) for e in key.endorsements],
    }


def content_of(record: ArchiveRecord) -> dict[str, Any] | None:
    """The record's content, unsealed and checked against its hashes; None once purged."""
    if not record.sealed:
        return None
    where = f"Archive record #{record.seq} of {record.namespace}"
    if not bytes(record.sealed).startswith(MAGIC):  # an archive record is always sealed
        raise RecordAltered(f"{where} is not sealed: it was written into the database by someone else.")
    try:
        body = unseal(
            payload_keys().of(record.namespace), record.namespace, _name(record), bytes(record.sealed)
        )
        content = json.loads(zlib.decompress(body))
    except KeyNotFound as err:
        raise RecordAltered(f"{where} is sealed with a key this portal no longer holds ({err}).") from None
    except (ValueError, zlib.error) as err:
        raise RecordAltered(f"{where} does not open: it was altered in the database ({err}).") from None
    if content_sha256(content) != record.content_sha256 or record_hash(header(record)) != record.record_hash:
        raise RecordAltered(f"{where} no longer matches its hash: it was altered in the database.")
    return content


def header(record: ArchiveRecord) -> dict[str, Any]:
    """What the record hash covers, as the export writes it."""
    return {
        "namespace": record.namespace,
        "seq": record.seq,
        "kind": record.kind,
        "workflow_id": record.workflow_id,
        "run_id": record.run_id,
        "closed_at": _when(record.closed_at),
        "archived_at": _when(record.archived_at),
        "prev_hash": record.prev_hash,
        "content_sha256": record.content_sha256,
    }


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="microseconds") if moment else ""


def _name(record: ArchiveRecord) -> str:
    """Bound into the seal: the record's position and hash, so sealed content moved to another
    record, or left under a rewritten header, does not open."""
    return f"archive-record/{record.seq}/{record.record_hash}"


def _locked_head(namespace: str) -> ChainHead:
    try:
        with transaction.atomic():
            ChainHead.objects.get_or_create(
                namespace=namespace, defaults={"seq": 0, "record_hash": GENESIS, "moved_at": timezone.now()}
            )
    except IntegrityError:
        pass  # created by a concurrent append a moment ago
    return ChainHead.objects.select_for_update().get(namespace=namespace)

"""What an audit export carries besides the readable trail, once the run is archived: its
archive record (header, hash and content), the headers of the later records up to the next point
the portal signed (a checkpoint, at most CHECKPOINT_EVERY records on, or else the head, signed as
it is exported), and that signature; so `manage.py audit_verify` can check it offline."""

from __future__ import annotations

from typing import Any

from reviewer_portal.archive.chain import RecordAltered, content_of, header, signed_checkpoint
from reviewer_portal.archive.hashing import CHECKPOINT_EVERY
from reviewer_portal.archive.models import ArchiveRecord, ChainHead

EXPORT_FORMAT = "reviewer-portal/audit-export/v1"


def latest_record(workflow_id: str) -> ArchiveRecord | None:
    return (
        ArchiveRecord.objects.filter(kind=ArchiveRecord.Kind.RUN, workflow_id=workflow_id)
        .order_by("-closed_at", "-seq")
        .first()
    )


def archive_section(record: ArchiveRecord) -> dict[str, Any]:
    head = ChainHead.objects.get(namespace=record.namespace)
    last = min(head.seq, _next_checkpoint(record.seq))
    later = list(
        ArchiveRecord.objects.filter(namespace=record.namespace, seq__gt=record.seq, seq__lte=last)
        .defer("sealed")
        .order_by("seq")
    )
    end = later[-1] if later else record
    first: dict[str, Any] = {"header": header(record), "record_hash": record.record_hash}
    try:
        content = content_of(record)
    except RecordAltered as err:
        first["altered"] = str(err)  # audit_verify then fails on the missing content
        content = None
    if content is not None:
        first["content"] = content
    signature = end.checkpoint or signed_checkpoint(end.namespace, end.seq, end.record_hash)
    return {
        "records": [first, *({"header": header(r), "record_hash": r.record_hash} for r in later)],
        "signed": {"namespace": end.namespace, "seq": end.seq, "record_hash": end.record_hash, **signature},
        "head": {"namespace": head.namespace, "seq": head.seq, "record_hash": head.record_hash},
    }


def _next_checkpoint(seq: int) -> int:
    return (seq // CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY


def export_document(trail: dict[str, Any], record: ArchiveRecord | None) -> dict[str, Any]:
    """The export: the trail as the audit page shows it and, once archived, the proof."""
    return {
        "format": EXPORT_FORMAT,
        **trail,
        "archive": archive_section(record) if record is not None else None,
    }

"""What an audit export carries besides the readable trail, once the run is archived: its
archive record (header, hash and content) and the header of every later record of its namespace
up to the chain head, so `manage.py audit_verify` can check it offline."""

from __future__ import annotations

from typing import Any

from reviewer_portal.archive.chain import RecordAltered, content_of, header
from reviewer_portal.archive.models import ArchiveRecord, ChainHead

EXPORT_FORMAT = "reviewer-portal/audit-export/v1"


def latest_record(workflow_id: str) -> ArchiveRecord | None:
    return (
        ArchiveRecord.objects.filter(kind=ArchiveRecord.Kind.RUN, workflow_id=workflow_id)
        .order_by("-closed_at", "-seq")
        .first()
    )


def archive_section(record: ArchiveRecord) -> dict[str, Any]:
    later = ArchiveRecord.objects.filter(namespace=record.namespace, seq__gt=record.seq).order_by("seq")
    head = ChainHead.objects.get(namespace=record.namespace)
    first: dict[str, Any] = {"header": header(record), "record_hash": record.record_hash}
    try:
        content = content_of(record)
    except RecordAltered as err:
        first["altered"] = str(err)  # audit_verify then fails on the missing content
        content = None
    if content is not None:
        first["content"] = content
    return {
        "records": [first, *({"header": header(r), "record_hash": r.record_hash} for r in later.iterator())],
        "head": {"namespace": head.namespace, "seq": head.seq, "record_hash": head.record_hash},
    }


def export_document(trail: dict[str, Any], record: ArchiveRecord | None) -> dict[str, Any]:
    """The export: the trail as the audit page shows it and, once archived, the proof."""
    return {
        "format": EXPORT_FORMAT,
        **trail,
        "archive": archive_section(record) if record is not None else None,
    }

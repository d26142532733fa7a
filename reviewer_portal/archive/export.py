"""What an audit export carries besides the readable trail, once the run is archived: its
archive record (header, hash and content), the headers of the later records up to the next
checkpoint (at most CHECKPOINT_EVERY records on) or the head, and the signature the portal made
of the last of them when it appended it; so `manage.py audit_verify` can check it offline. The
portal signs nothing at export time: the database cannot get a rewritten chain signed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reviewer_portal.archive.chain import RecordAltered, content_of, header
from reviewer_portal.archive.hashing import CHECKPOINT_EVERY
from reviewer_portal.archive.integrity import verify_stored
from reviewer_portal.archive.models import ArchiveRecord, ChainHead

EXPORT_FORMAT = "reviewer-portal/audit-export/v1"
# Records archived before their chain was kept, looked through by content for a gate's chain (a
# workflow id has one, or a few: no later record lacks the column).
MAX_RECORDS_LOOKED_AT = 20


def latest_record(workflow_id: str, chain: str = "") -> ArchiveRecord | None:
    """The newest archive record of `workflow_id`'s runs; with `chain`, of that chain of runs (its
    first run's id): another may have run under the id since (reviewer_portal.inbox.publishing).
    The chain's record that cannot be read (altered, purged) is answered, for the caller to report."""
    records = ArchiveRecord.objects.filter(kind=ArchiveRecord.Kind.RUN, workflow_id=workflow_id).order_by(
        "-closed_at", "-seq"
    )
    if not chain:
        return records.first()
    # By its index column, checked against the content (a database writer could move the index);
    # then among records archived before the column was kept, by their content.
    indexed = records.filter(chain_id=chain).first()
    if indexed is not None and record_chain(indexed) in (chain, None):
        return indexed
    older = records.filter(chain_id="")[:MAX_RECORDS_LOOKED_AT]
    return next((r for r in older if record_chain(r) == chain), None)


def record_chain(record: ArchiveRecord) -> str | None:
    """The chain of the runs a record holds, from its last history's started event; None if it
    cannot be read."""
    found = record_start(record)
    return found[0] if found else None


def record_start(record: ArchiveRecord) -> tuple[str, datetime] | None:
    """The chain of the runs a record holds and when its first run started (its first history's
    started event, which a reset copies); None if it cannot be read."""
    try:
        content = content_of(record)
    except RecordAltered:
        return None
    if not content:
        return None
    try:
        histories = content["histories"]
        started = histories[-1]["history"]["events"][0]["workflowExecutionStartedEventAttributes"]
        at = datetime.fromisoformat(histories[0]["history"]["events"][0]["eventTime"])
        return str(started.get("firstExecutionRunId", "")), at
    except (KeyError, IndexError, TypeError, ValueError):
        return None


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
    content = content_of(record)  # RecordAltered: the caller answers it, nothing is exported
    if content is not None:
        first["content"] = content
    verify_stored(end.namespace, from_seq=record.seq, to_seq=end.seq)  # RecordAltered: nothing exported
    signature = end.signature or {}
    return {
        "records": [first, *({"header": header(r), "record_hash": r.record_hash} for r in later)],
        "signed": {"namespace": end.namespace, "seq": end.seq, "record_hash": end.record_hash, **signature},
        "head": {"namespace": head.namespace, "seq": head.seq, "record_hash": head.record_hash},
    }


def _next_checkpoint(seq: int) -> int:
    return (seq // CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY


def export_document(trail: dict[str, Any], record: ArchiveRecord | None) -> dict[str, Any]:
    """The export: the trail as the audit page shows it and, once archived, the archived trail
    (a closed run's portal records may still change; what was archived is what is proved) with
    the proof. Raises RecordAltered rather than export or sign an altered record."""
    if record is None:
        return {"format": EXPORT_FORMAT, **trail, "archive": None}
    archive = archive_section(record)
    archived = archive["records"][0].get("content")
    return {"format": EXPORT_FORMAT, **(archived["trail"] if archived else trail), "archive": archive}

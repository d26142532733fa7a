"""Checks of the stored chain before the portal serves or acts on it: before an export, before a
purge, and before it calls an emptied record purged (a purge record must name it). Every record
carries the portal's signature, made when it was appended, so someone who can write to the
database but holds no key cannot get a rewritten chain exported, purged or excused."""

from __future__ import annotations

from agents.framework.reviewer_actions import KeyEndorsement
from agents.framework.types import VerifyingKey
from reviewer_portal.archive.chain import RecordAltered, content_of, header
from reviewer_portal.archive.hashing import GENESIS, checkpoint_message, record_hash
from reviewer_portal.archive.models import ArchiveRecord
from reviewer_portal.trust.archive_key import checkpoint_refusal
from reviewer_portal.trust.public_keys import verification_keyring


def verify_stored(namespace: str, *, from_seq: int = 1, to_seq: int | None = None) -> None:
    """Raise RecordAltered unless records from_seq..to_seq hash to their hashes, link to one
    another (and to the record before from_seq), and each carries the portal's signature."""
    records = (
        ArchiveRecord.objects.filter(namespace=namespace, seq__gte=from_seq).defer("sealed").order_by("seq")
    )
    if to_seq is not None:
        records = records.filter(seq__lte=to_seq)
    before = ArchiveRecord.objects.filter(namespace=namespace, seq=from_seq - 1).defer("sealed").first()
    expected_seq, expected_prev = from_seq, before.record_hash if before else GENESIS
    portal_keys = verification_keyring()  # once: on the archiver it is a file read
    for record in records.iterator():
        where = f"Archive record #{record.seq} of {namespace}"
        if record.seq != expected_seq:
            raise RecordAltered(
                f"Archive record #{expected_seq} of {namespace} is missing from the database."
            )
        if record.prev_hash != expected_prev or record_hash(header(record)) != record.record_hash:
            raise RecordAltered(f"{where} no longer links into the chain: it was altered in the database.")
        if not _signature_holds(record, portal_keys):
            raise RecordAltered(f"{where} does not carry the portal's valid signature.")
        expected_seq, expected_prev = record.seq + 1, record.record_hash


def verify_placed(record: ArchiveRecord) -> None:
    """Raise RecordAltered unless `record` links to the record before it, the record after it (if
    any) links to it, and it carries the portal's signature: a record someone wrote into the
    database, hashes and all, without the portal's key, is not taken for one of the chain."""
    verify_stored(record.namespace, from_seq=record.seq, to_seq=record.seq)
    after = ArchiveRecord.objects.filter(namespace=record.namespace, seq=record.seq + 1)
    prev_hash = after.values_list("prev_hash", flat=True).first()
    if prev_hash is not None and prev_hash != record.record_hash:
        raise RecordAltered(
            f"Archive record #{record.seq + 1} of {record.namespace} does not link to #{record.seq}: "
            "the chain was altered in the database."
        )


def purge_recorded(record: ArchiveRecord) -> bool:
    """Whether a purge record of the chain names `record` (an emptied record without one was
    emptied by someone else)."""
    for purge in ArchiveRecord.objects.filter(
        namespace=record.namespace, kind=ArchiveRecord.Kind.PURGE, seq__gt=record.seq
    ):
        listed = content_of(purge) or {}
        if any(entry.get("record_hash") == record.record_hash for entry in listed.get("purged", [])):
            return True
    return False


def _signature_holds(record: ArchiveRecord, portal_keys: list[VerifyingKey]) -> bool:
    signed = record.signature or {}
    refusal = checkpoint_refusal(
        checkpoint_message(record.namespace, record.seq, record.record_hash),
        key_id=str(signed.get("key_id", "")),
        value=str(signed.get("value", "")),
        endorsements=[KeyEndorsement(**e) for e in signed.get("endorsements", [])],
        portal_keys=portal_keys,
    )
    return refusal is None

"""The audit page checks an archived trail as an export does (reviewer_portal/audit/trail.py): once
Temporal has deleted a run, its archive record is served only in its place in the chain and signed
by the portal. Someone who can write to the database and holds the namespace's payload key (every
worker host does) but not the portal's signing key can seal a trail of their own and compute its
hashes; the page then says the record lacks the portal's signature and shows none of it. A run
the portal knows that Temporal has deleted and the archive holds no record of (never archived in
time, or its record removed) is said to be missing, not unknown."""

from __future__ import annotations

import copy
import uuid
import zlib
from datetime import timedelta

from agents.framework.sealed_files import seal
from reviewer_portal.archive import chain
from reviewer_portal.archive.hashing import canonical, content_sha256, record_hash
from reviewer_portal.archive.models import ArchiveRecord
from reviewer_portal.codec.keys import payload_keys
from tests.conftest import logged_in, make_user
from tests.test_archive import archive_from_now, archived, decided_loan, delete_from_temporal

__all__ = ["archive_from_now"]  # the fixture

FORGED_REASON = "Approved at the board's request, no checks needed."


def forged_copy(genuine: ArchiveRecord) -> ArchiveRecord:
    """The genuine record's trail with the officer's reason rewritten, as a later record of the
    chain: sealed with the namespace's key, hashed as the archiver hashes, signed by no one."""
    content = copy.deepcopy(chain.content_of(genuine))
    assert content is not None
    for entry in content["trail"]["entries"]:
        entry["title"] = entry["title"].replace("Affordable and within appetite.", FORGED_REASON)
    namespace = genuine.namespace
    last = ArchiveRecord.objects.filter(namespace=namespace).order_by("-seq").first()
    assert last is not None
    forged = ArchiveRecord(
        namespace=namespace,
        seq=last.seq + 1,  # next in the chain, linked to its last record: only a signature is missing
        kind=genuine.kind,
        workflow_id=genuine.workflow_id,
        run_id=str(uuid.uuid4()),  # as a later run of its chain
        closed_at=genuine.closed_at + timedelta(minutes=1),
        archived_at=genuine.archived_at,
        prev_hash=last.record_hash,
        content_sha256=content_sha256(content),
        agent=genuine.agent,
        subject=genuine.subject,
        status=genuine.status,
        chain_id=genuine.chain_id,  # its index columns as the archiver writes them
    )
    forged.record_hash = record_hash(chain.header(forged))
    forged.signature = {"key_id": "forger", "value": "AAAA", "endorsements": []}
    forged.sealed = seal(
        payload_keys().of(namespace),
        namespace,
        f"archive-record/{forged.seq}/{forged.record_hash}",
        zlib.compress(canonical(content), 6),
    )
    forged.size = len(forged.sealed)
    forged.save()
    return forged


def test_an_archived_trail_forged_in_the_database_is_not_served_and_an_unarchived_one_is_missing(
    temporal, archive_from_now
):
    forged_run = decided_loan(temporal, archive_from_now, "Ana Lima")
    forged = forged_copy(archived(forged_run.id))
    assert chain.content_of(forged) is not None  # it opens and matches its hashes
    # Closed after the last archiving pass, and never archived (or its record since removed).
    unarchived_run = decided_loan(temporal, archive_from_now, "Bo Chen")
    auditor = logged_in(make_user("auditor", "auditor"))

    delete_from_temporal(temporal, forged_run.id, unarchived_run.id)
    forged_page = auditor.get(f"/audit/{forged_run.id}/")
    forged_export = auditor.get(f"/audit/{forged_run.id}/export.json")
    unarchived_page = auditor.get(f"/audit/{unarchived_run.id}/")

    assert forged_page.status_code == 503, forged_page.status_code
    assert "valid signature" in forged_page.content.decode()  # does not carry the portal's
    assert FORGED_REASON not in forged_page.content.decode()
    assert forged_export.status_code == 503 and FORGED_REASON not in forged_export.content.decode()
    assert unarchived_page.status_code == 503  # not 404 "No such agent run": the portal knows it
    assert "the archive holds no record of it" in unarchived_page.content.decode()

"""The archive: a closed run is copied, hash-chained and sealed into the portal's database, so its
audit trail outlives Temporal's retention; `audit_verify` checks an export offline; a purge is
itself recorded. Real dev server, real runs decided through the portal, real deletion."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import itertools
import json
import logging
import subprocess
import sys
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.service import RPCError, RPCStatusCode

from agents.framework.redaction import REDACTED, redact
from reviewer_portal import temporal_client
from reviewer_portal.archive import archiver, chain
from reviewer_portal.archive.chain import RecordAltered, content_of
from reviewer_portal.archive.checks import archive_settings_check
from reviewer_portal.archive.hashing import (
    CHECKPOINT_EVERY,
    canonical,
    checkpoint_message,
    content_sha256,
    record_hash,
)
from reviewer_portal.archive.integrity import purge_recorded, verify_stored
from reviewer_portal.archive.models import ArchiveRecord, ArchiveWatermark, ChainHead
from reviewer_portal.archive.schedule import SCHEDULE_ID
from reviewer_portal.archive.worker import archive_worker
from reviewer_portal.inbox.models import ActionAttempt
from reviewer_portal.trust.keys import generate
from tests.conftest import (
    APPROVABLE,
    decide,
    in_threads,
    loan_input,
    logged_in,
    make_user,
    projected_gate,
    record_history,
    start_loan,
)

TEMPORAL = Path(sys.executable).parent / "temporal"


@pytest.fixture
def archive_from_now(settings, portal):
    """Archive only what closes from now on (the session's server holds other tests' runs)."""
    settings.ARCHIVE_VISIBILITY_LAG_SECONDS = 0
    for namespace in ("default",):
        ArchiveWatermark.objects.update_or_create(
            namespace=namespace, defaults={"closed_before": timezone.now()}
        )
    return portal


def decided_loan(temporal, portal, applicant: str = "Amira Haddad"):
    """A loan the submitter tried to approve (refused: four eyes) and an officer approved."""
    handle = start_loan(temporal, portal, loan_input(replace(APPROVABLE, applicant_name=applicant)))
    gate = projected_gate(handle)
    submitter = logged_in(make_user_once("intake", "credit_officer"))
    officer = logged_in(make_user_once("officer", "credit_officer"))
    decide(submitter, gate, reason="My own case.")
    decide(officer, gate, reason="Affordable and within appetite.")
    temporal.run(handle.result(), timeout=30)
    return handle


def make_user_once(username: str, *roles: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username=username).first() or make_user(username, *roles)


def archived(workflow_id: str, timeout: float = 30) -> ArchiveRecord:
    """Archive until the run is (visibility lists a closed run a moment after it closes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        archiver.archive_due(limit=50)
        record = ArchiveRecord.objects.filter(workflow_id=workflow_id).first()
        if record is not None:
            return record
        time.sleep(0.3)
    raise AssertionError(f"{workflow_id} was never archived")


def delete_from_temporal(temporal, *workflow_ids: str) -> None:
    """What namespace retention does, now (the dev server takes about 30 s to carry it out, so
    the runs are deleted together)."""
    for workflow_id in workflow_ids:
        request = DeleteWorkflowExecutionRequest(
            namespace="default", workflow_execution=WorkflowExecution(workflow_id=workflow_id)
        )
        temporal.run(temporal.client.workflow_service.delete_workflow_execution(request))
    remaining, deadline = set(workflow_ids), time.monotonic() + 90
    while remaining and time.monotonic() < deadline:
        for workflow_id in sorted(remaining):
            try:
                temporal.run(temporal.client.get_workflow_handle(workflow_id).describe())
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                remaining.discard(workflow_id)
        time.sleep(0.5)
    assert not remaining, f"{sorted(remaining)} still in Temporal"


def test_a_run_deleted_from_temporal_keeps_its_trail_and_an_altered_record_is_reported(
    temporal, archive_from_now
):
    """Three decided runs are archived, then deleted from Temporal (together: the dev server takes
    30 s). The untouched one is served from the archive as it was before. Of the other two an
    operator with database access edited a byte of the sealed content, or the close time (in the
    hashed header): neither is served as a trail; the page says so."""
    sealed_run = decided_loan(temporal, archive_from_now, "Ana Lima")
    dated_run = decided_loan(temporal, archive_from_now, "Bo Chen")
    sealed, dated = archived(sealed_run.id), archived(dated_run.id)
    # Archived after them: its export's chain segment does not pass through the altered records
    # (one that did would not be exported: its proof would pass through them).
    handle = decided_loan(temporal, archive_from_now)
    auditor = logged_in(make_user("auditor", "auditor"))
    record = archived(handle.id)
    page_before = auditor.get(f"/audit/{handle.id}/").content.decode()
    export_before = auditor.get(f"/audit/{handle.id}/export.json").json()
    flipped = bytearray(sealed.sealed)
    flipped[-5] ^= 0x01
    ArchiveRecord.objects.filter(pk=sealed.pk).update(sealed=bytes(flipped))
    ArchiveRecord.objects.filter(pk=dated.pk).update(closed_at=dated.closed_at - timedelta(days=400))

    delete_from_temporal(temporal, handle.id, sealed_run.id, dated_run.id)
    page_after = auditor.get(f"/audit/{handle.id}/")
    export_after = auditor.get(f"/audit/{handle.id}/export.json").json()
    sealed_page = auditor.get(f"/audit/{sealed_run.id}/")
    dated_page = auditor.get(f"/audit/{dated_run.id}/")
    sealed_export = auditor.get(f"/audit/{sealed_run.id}/export.json")

    assert page_after.status_code == 200
    assert "Temporal no longer has this run, so it is read from the archive" in page_after.content.decode()
    assert export_after == export_before
    titles = [entry["title"] for entry in export_after["entries"]]
    assert any(t.startswith("decide: approve by officer: Affordable") for t in titles)
    assert any("by intake" in t and "refused" in t for t in titles), titles  # the portal's own record
    assert _timeline(page_after.content.decode()) == _timeline(page_before)
    assert (record.agent, record.subject, record.status) == (
        "loans",
        "Amira Haddad: 18,000 over 48 months, home improvement",
        "completed",
    )
    assert b"Amira Haddad" not in bytes(record.sealed)  # sealed with the namespace's key
    assert ActionAttempt.objects.filter(gate__workflow_id=handle.id, status="refused").exists()
    assert sealed_page.status_code == 503 and "does not open: it was altered" in sealed_page.content.decode()
    assert dated_page.status_code == 503 and "no longer matches its hash" in dated_page.content.decode()
    assert sealed_export.status_code == 503 and "Ana Lima" not in sealed_export.content.decode()


def test_archiving_is_idempotent_and_chains_each_record_to_the_one_before(temporal, archive_from_now):
    first = decided_loan(temporal, archive_from_now, "Ana Lima")
    second = decided_loan(temporal, archive_from_now, "Bo Chen")
    one, two = archived(first.id), archived(second.id)

    again = archiver.archive_due(limit=50)

    ordered = sorted([one, two], key=lambda r: r.seq)
    assert again.archived == 0 and ArchiveRecord.objects.filter(workflow_id=first.id).count() == 1
    assert ordered[1].seq == ordered[0].seq + 1 and ordered[1].prev_hash == ordered[0].record_hash
    head = ChainHead.objects.get(namespace="default")
    assert head.record_hash == ArchiveRecord.objects.filter(namespace="default").last().record_hash


def test_audit_verify_passes_an_untouched_export_and_names_what_was_changed(
    temporal, archive_from_now, tmp_path
):
    runs = [decided_loan(temporal, archive_from_now, name) for name in ("Ana Lima", "Bo Chen", "Cy Dorn")]
    for run in runs:
        archived(run.id)
    auditor = logged_in(make_user("auditor", "auditor"))
    export = auditor.get(f"/audit/{runs[0].id}/export.json").json()
    assert len(export["archive"]["records"]) >= 3

    untouched = verify(tmp_path, export)
    one_byte = verify(tmp_path, _with_one_byte_changed(export, "archive"))
    one_byte_shown = verify(tmp_path, _with_one_byte_changed(export, "shown"))
    removed = verify(tmp_path, _with_record_removed(export))
    not_json = verify(tmp_path, {"format": "something else"})
    forged = verify(tmp_path, _with_forged_reason(export))
    rewritten = verify(tmp_path, _with_model_rewritten(export))

    assert untouched[0] == 0 and untouched[1].startswith(f"OK: {runs[0].id} is record #")
    assert "signed reviewer action(s) verified" in untouched[1]
    assert one_byte == (
        1,
        f"FAILED: Record #{export['archive']['records'][0]['header']['seq']}: its content was changed (it no longer hashes to its header's).",
    )
    assert one_byte_shown == (1, "FAILED: Trail entry 1 (Run started by intake) was altered in the export.")
    assert removed[0] == 1 and "is missing" in removed[1]
    assert not_json == (1, "FAILED: The file is not an audit export of the reviewer portal.")
    assert forged[0] == 1 and "signature does not match" in forged[1]
    assert (
        rewritten[0] == 1
        and "is not the one the portal signed: its signature does not match it" in rewritten[1]
    )


def test_a_purge_empties_old_records_and_is_itself_recorded(temporal, archive_from_now, settings, tmp_path):
    handle = decided_loan(temporal, archive_from_now)
    record = archived(handle.id)
    settings.ARCHIVE_RETENTION_DAYS = 30

    nothing_yet = archiver.purge_expired()
    purged = archiver.purge_expired(now=timezone.now() + timedelta(days=31))
    export = logged_in(make_user("auditor", "auditor")).get(f"/audit/{handle.id}/export.json").json()

    record.refresh_from_db()
    purge = ArchiveRecord.objects.get(kind="purge", namespace="default")
    assert nothing_yet == 0 and purged >= 1
    assert record.sealed is None and record.purged_at is not None and record.record_hash
    assert purge.seq > record.seq and purge.prev_hash != ""
    listed = [entry["record_hash"] for entry in content_of(purge)["purged"]]
    assert record.record_hash in listed
    # Temporal still has the run: its trail reads from there; the emptied record proves nothing.
    assert export["entries"] and "content" not in export["archive"]["records"][0]
    assert verify(tmp_path, export) == (
        1,
        "FAILED: The export's archive record has no content (it was purged, or removed from the file).",
    )


def verify(tmp_path: Path, export: dict, *options: str) -> tuple[int, str]:
    path = tmp_path / f"export-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(export))
    out, err = StringIO(), StringIO()
    try:
        call_command("audit_verify", str(path), *options, stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code or 0), err.getvalue().strip()
    return 0, out.getvalue().strip()


def _with_one_byte_changed(export: dict, where: str) -> dict:
    """One digit of the applicant's income, in the archived record or in the trail shown."""
    changed = copy.deepcopy(export)
    entries = (
        changed["archive"]["records"][0]["content"]["trail"]["entries"]
        if where == "archive"
        else changed["entries"]
    )
    case = entries[0]["data"]["input"]["case"]
    assert case["annual_income"] == 62000
    case["annual_income"] = 62001
    return changed


def _with_record_removed(export: dict) -> dict:
    changed = copy.deepcopy(export)
    del changed["archive"]["records"][1]
    return changed


def _with_forged_reason(export: dict) -> dict:
    """The decision's reason rewritten everywhere, and every hash recomputed to match: only the
    portal's signature of the decision can tell."""
    changed = copy.deepcopy(export)
    for entries in (changed["entries"], changed["archive"]["records"][0]["content"]["trail"]["entries"]):
        for entry in entries:
            if entry["kind"] == "decision":
                entry["data"]["update"]["reason"] = "Forged reason."
                entry["title"] = entry["title"].replace("Affordable and within appetite.", "Forged reason.")
    return _rehashed(changed)


def _with_model_rewritten(export: dict) -> dict:
    """What the AI said rewritten (no signed decision touched), every hash recomputed: only the
    portal's signature of the chain can tell."""
    changed = copy.deepcopy(export)
    for entries in (changed["entries"], changed["archive"]["records"][0]["content"]["trail"]["entries"]):
        for entry in entries:
            if entry["kind"] == "llm":
                entry["title"] = entry["title"].replace("offline", "vetted")
    return _rehashed(changed)


def _rehashed(changed: dict) -> dict:
    records = changed["archive"]["records"]
    records[0]["header"]["content_sha256"] = content_sha256(records[0]["content"])
    previous = ""
    for record in records:
        if previous:
            record["header"]["prev_hash"] = previous
        record["record_hash"] = previous = record_hash(record["header"])
    changed["archive"]["signed"]["record_hash"] = previous
    return changed


def _timeline(page: str) -> str:
    return page[page.index('<ol class="timeline">') :]


def test_the_schedule_runs_the_archiving_workflow_and_the_cli_lists_it(temporal, archive_from_now, settings):
    settings.ARCHIVE_TASK_QUEUE = f"archive-{uuid.uuid4().hex[:8]}"
    handle = decided_loan(temporal, archive_from_now)
    deadline = time.monotonic() + 30  # visibility lists a closed run a moment after it closes
    while handle.id not in [due.workflow_id for due in archiver.due_runs("default")]:
        assert time.monotonic() < deadline, "the decided run was never listed as due"
        time.sleep(0.3)
    out = StringIO()
    call_command("archive_schedule", stdout=out)
    call_command("archive_schedule", stdout=out)  # a deploy runs it again: updated, not doubled
    listed = subprocess.run(
        [str(TEMPORAL), "schedule", "list", "--address", temporal.address],
        capture_output=True, text=True, timeout=30,
    ).stdout  # fmt: skip
    schedule = temporal.client.get_schedule_handle(SCHEDULE_ID)
    try:
        with (
            ThreadPoolExecutor(max_workers=2) as executor,
            _running(temporal, lambda: archive_worker(temporal.client, executor=executor)),
        ):
            temporal.run(schedule.trigger())
            run = _scheduled_run(temporal, schedule)
            summary = temporal.run(run.result(), timeout=60)  # a dict: the handle knows no result type
        record_history(temporal, run, "audit_archive_pass")
    finally:
        temporal.run(schedule.delete())

    assert out.getvalue().splitlines()[0].startswith("Schedule audit-archive created in namespace default")
    assert out.getvalue().splitlines()[1].startswith("Schedule audit-archive updated")
    assert SCHEDULE_ID in listed
    assert summary["archived"] >= 1 and summary["failed"] == 0
    assert ArchiveRecord.objects.filter(workflow_id=handle.id, kind="run").count() == 1


@contextlib.contextmanager
def _running(temporal, make_worker):
    async def build():  # a Worker is made on the loop that runs it
        return make_worker()

    worker = temporal.run(build())
    task = asyncio.run_coroutine_threadsafe(worker.run(), temporal.loop)
    try:
        yield worker
    finally:
        temporal.run(worker.shutdown())
        task.result(30)


def _scheduled_run(temporal, schedule):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        actions = temporal.run(schedule.describe()).info.recent_actions
        if actions:
            return temporal.client.get_workflow_handle(actions[-1].action.workflow_id)
        time.sleep(0.2)
    raise AssertionError("the Schedule started nothing")


def test_the_audit_index_lists_runs_with_outcome_decider_model_and_archive_and_filters_them(
    temporal, archive_from_now
):
    decided = decided_loan(temporal, archive_from_now, "Ana Lima")
    record = archived(decided.id)
    waiting = start_loan(
        temporal, archive_from_now, loan_input(replace(APPROVABLE, applicant_name="Bo Chen"))
    )
    projected_gate(waiting)
    auditor = logged_in(make_user("auditor", "auditor"))

    everything = auditor.get("/audit/").content.decode()
    approved = auditor.get("/audit/", {"outcome": "approved"}).content.decode()
    searched = auditor.get("/audit/", {"q": "Bo Chen"}).content.decode()
    archived_only = auditor.get("/audit/", {"archived": "yes"}).content.decode()
    officer = logged_in(make_user("officer2", "credit_officer")).get("/audit/")

    assert "Ana Lima" in everything and "Bo Chen" in everything
    assert "Approved" in everything and "officer" in everything and f"#{record.seq}" in everything
    assert "Ana Lima" in approved and "Bo Chen" not in approved
    assert "Bo Chen" in searched and "Ana Lima" not in searched
    assert "Ana Lima" in archived_only and "Bo Chen" not in archived_only
    assert ChainHead.objects.get(namespace="default").record_hash in everything
    assert officer.status_code == 403
    temporal.run(waiting.terminate("test done"))


def test_two_passes_archiving_the_same_runs_at_once_archive_each_once(temporal, archive_from_now):
    """The Schedule's pass and an operator's archive_runs overlap: each run ends up archived
    once, positions stay unique and the chain unbroken; a pass that lost a race leaves the run
    due instead of skipping it."""
    runs = [decided_loan(temporal, archive_from_now, name) for name in ("Ana Lima", "Bo Chen")]
    deadline = time.monotonic() + 30
    while len(due := archiver.due_runs("default")) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)

    outcomes = in_threads(lambda _: archiver.archive_due(limit=50), [1, 2])
    leftover = archiver.archive_due(limit=50)

    records = list(ArchiveRecord.objects.filter(namespace="default").order_by("seq"))
    assert {r.workflow_id for r in records} >= {run.id for run in runs} and len(due) >= 2
    assert [r.workflow_id for r in records].count(runs[0].id) == 1
    assert [r.workflow_id for r in records].count(runs[1].id) == 1
    assert all(b.prev_hash == a.record_hash and b.seq == a.seq + 1 for a, b in itertools.pairwise(records))
    assert sum(o.archived for o in outcomes) + leftover.archived == len(records)


def test_an_export_carries_the_chain_only_to_the_next_signed_checkpoint(temporal, archive_from_now, tmp_path):
    """An old run's export does not carry every later record: the portal signs the chain every
    CHECKPOINT_EVERY records, and the export stops there; a recent run's stops at the head,
    signed as it is exported."""
    handle = decided_loan(temporal, archive_from_now)
    first = archived(handle.id)
    content = content_of(first)
    for _ in range(CHECKPOINT_EVERY + 5):
        copy_id = f"loan-copy-{uuid.uuid4().hex[:12]}"
        chain.append(
            namespace="default",
            kind="run",
            content={
                **content,
                "workflow_id": copy_id,
                "trail": {**content["trail"], "workflow_id": copy_id},
            },
            workflow_id=copy_id,
            run_id=uuid.uuid4().hex,
            closed_at=first.closed_at,
        )
    latest = decided_loan(temporal, archive_from_now, "Bo Chen")
    archived(latest.id)
    auditor = logged_in(make_user("auditor", "auditor"))
    old = auditor.get(f"/audit/{handle.id}/export.json").json()
    recent = auditor.get(f"/audit/{latest.id}/export.json").json()
    transplanted = auditor.get(f"/audit/{copy_id}/export.json").json()

    checkpoint = ArchiveRecord.objects.get(
        namespace="default", seq=(first.seq // CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY
    )
    assert old["archive"]["signed"]["seq"] == checkpoint.seq and checkpoint.signature["value"]
    assert len(old["archive"]["records"]) == checkpoint.seq - first.seq + 1
    assert recent["archive"]["signed"]["seq"] == ChainHead.objects.get(namespace="default").seq
    assert verify(tmp_path, old)[0] == 0 and verify(tmp_path, recent)[0] == 0
    # A record copied under another run's id: its decisions were signed for the original run.
    assert "signed for another gate, run or Update" in verify(tmp_path, transplanted)[1]


def test_check_warns_when_the_archive_would_run_too_rarely_or_keep_too_little(settings):
    settings.TEMPORAL_RETENTION_DAYS, settings.ARCHIVE_EVERY_MINUTES = 1, 600
    settings.ARCHIVE_RETENTION_DAYS = 30

    ids = {warning.id for warning in archive_settings_check()}

    assert ids == {"archive.W001", "archive.W002"}
    settings.TEMPORAL_RETENTION_DAYS, settings.ARCHIVE_EVERY_MINUTES, settings.ARCHIVE_RETENTION_DAYS = (
        30,
        60,
        2555,
    )
    assert archive_settings_check() == []


def test_the_chain_head_is_logged_whole_each_time_it_moves(temporal, archive_from_now, caplog):
    """The log handler redacts 64-hex strings as possible keys; the head, written as a sha256
    digest, must survive it, or the log could not anchor the chain."""
    handle = decided_loan(temporal, archive_from_now)
    with caplog.at_level(logging.INFO, logger="reviewer_portal.archive.chain"):
        record = archived(handle.id)

    [line] = [
        r.getMessage()
        for r in caplog.records
        if r.name == "reviewer_portal.archive.chain" and handle.id in r.getMessage()
    ]
    assert (
        redact(line)
        == line
        == f"archive chain default moved to #{record.seq} sha256:{record.record_hash} (run {handle.id})"
    )
    assert redact("a key " + "ab" * 32) == f"a key {REDACTED}"


def test_audit_verify_trusts_no_key_written_into_the_file(temporal, archive_from_now, tmp_path):
    """A forger makes a key, pins it in the run, signs the decision and the chain with it and
    recomputes every hash: only the portal's published keys (the trust root) can tell."""
    handle = decided_loan(temporal, archive_from_now)
    archived(handle.id)
    export = logged_in(make_user("auditor", "auditor")).get(f"/audit/{handle.id}/export.json").json()
    forger = generate(key_id="portal-2026-01-01")
    published = tmp_path / "keyring.json"
    out = StringIO()
    call_command("signing_key", "keyring", stdout=out)
    published.write_text(out.getvalue())
    strangers = tmp_path / "strangers.json"
    strangers.write_text(json.dumps([dataclasses.asdict(forger.verifying_key())]))

    own_key = verify(tmp_path, _signed_by(_with_pinned_key(export, forger), forger))
    own_anchor = verify(tmp_path, _signed_by(_with_model_rewritten(export), forger))
    repeated = tmp_path / "repeated.json"
    text = json.dumps(export)
    repeated.write_text(text.replace('"format": ', '"format": "x", "format": ', 1))

    assert own_key == (1, "FAILED: The run trusts a key that is not one of the portal's (portal-2026-01-01).")
    assert own_anchor[0] == 1 and "is not the one the portal signed" in own_anchor[1]
    assert "repeats a key ('format')" in _verify_file(repeated)[1]
    assert verify(tmp_path, export, "--portal-keys", str(published))[0] == 0
    assert "not one of the portal's" in verify(tmp_path, export, "--portal-keys", str(strangers))[1]


def test_a_chain_rewritten_in_the_database_without_the_key_is_not_exported(temporal, archive_from_now):
    """Someone who can write to the database but holds no key: content written unsealed, or the
    newest record's header rewritten with its hash recomputed; the portal exports neither (it
    signs nothing at export time), and a record emptied without a purge record is not 'purged'."""
    unsealed_run = decided_loan(temporal, archive_from_now, "Ana Lima")
    unsealed = archived(unsealed_run.id)
    rewritten_run = decided_loan(temporal, archive_from_now, "Bo Chen")
    rewritten = archived(rewritten_run.id)
    body = zlib.compress(canonical({**content_of(unsealed), "workflow_id": "rewritten by someone"}))
    ArchiveRecord.objects.filter(pk=unsealed.pk).update(sealed=body)
    rewritten.closed_at -= timedelta(days=400)
    rewritten.record_hash = record_hash(chain.header(rewritten))
    ArchiveRecord.objects.filter(pk=rewritten.pk).update(
        closed_at=rewritten.closed_at, record_hash=rewritten.record_hash
    )
    ChainHead.objects.filter(namespace="default").update(record_hash=rewritten.record_hash)
    auditor = logged_in(make_user("auditor", "auditor"))

    unsealed_export = auditor.get(f"/audit/{unsealed_run.id}/export.json")
    rewritten_export = auditor.get(f"/audit/{rewritten_run.id}/export.json")
    ArchiveRecord.objects.filter(pk=unsealed.pk).update(sealed=None, purged_at=timezone.now())

    assert unsealed_export.status_code == 503 and "is not sealed" in unsealed_export.content.decode()
    # Its seal is bound to its hash, so it no longer opens; and its signature no longer holds.
    assert (
        rewritten_export.status_code == 503 and "altered in the database" in rewritten_export.content.decode()
    )
    with pytest.raises(RecordAltered, match="does not carry the portal's valid signature"):
        verify_stored("default", from_seq=rewritten.seq)
    assert not purge_recorded(ArchiveRecord.objects.get(pk=unsealed.pk))
    with pytest.raises(RecordAltered):
        archiver.purge_expired()


def _with_pinned_key(export: dict, key) -> dict:
    changed = copy.deepcopy(export)
    pinned = [dataclasses.asdict(key.verifying_key())]
    for entries in (changed["entries"], changed["archive"]["records"][0]["content"]["trail"]["entries"]):
        entries[0]["data"]["input"]["trusted_keys"] = pinned
    return _rehashed(changed)


def _signed_by(export: dict, key) -> dict:
    signed = export["archive"]["signed"]
    message = checkpoint_message(signed["namespace"], signed["seq"], signed["record_hash"])
    signed.update(key_id=key.key_id, value=key.sign(message), endorsements=[])
    return export


def _verify_file(path: Path) -> tuple[int, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("audit_verify", str(path), stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code or 0), err.getvalue().strip()
    return 0, out.getvalue().strip()


def test_adversarial_input_to_the_index_the_verifier_and_archive_runs_gets_plain_answers(
    temporal, archive_from_now, settings, tmp_path
):
    """Oversize and odd-Unicode searches, a structurally wrong export, and archive_runs during a
    Temporal outage: each is answered in words, and nothing is archived or changed."""
    decided = decided_loan(temporal, archive_from_now, "Ana Lima")
    archived(decided.id)
    auditor = logged_in(make_user("auditor", "auditor"))
    before = ArchiveRecord.objects.count()

    oversize = auditor.get("/audit/", {"q": "x" * 5000})
    odd = auditor.get("/audit/", {"q": "Ana\u202eLima\u200b\U0001f600"})  # bidi override, zero width, emoji
    wrong_shape = verify(
        tmp_path, {"format": "reviewer-portal/audit-export/v1", "archive": {"records": [{}]}}
    )
    not_a_list = verify(tmp_path, {"format": "reviewer-portal/audit-export/v1", "archive": ["x"]})
    settings.TEMPORAL_ADDRESS = "127.0.0.1:9"  # nothing listens there
    temporal_client.reset_client()
    with pytest.raises(CommandError, match="Temporal could not list the closed runs"):
        call_command("archive_runs", stdout=StringIO())

    assert oversize.status_code == 200 and "Some filters could not be applied" in oversize.content.decode()
    assert odd.status_code == 200 and "No agent runs match." in odd.content.decode()
    assert wrong_shape[0] == 1 and wrong_shape[1].startswith(
        "FAILED: The export's archive record has no content"
    )
    assert not_a_list == (
        1,
        "FAILED: This export has no archive record: the run was not archived yet, so nothing proves it.",
    )
    assert ArchiveRecord.objects.count() == before


def test_a_closed_support_conversation_is_archived_with_its_transcript(temporal, archive_from_now, client):
    """Agents' own workflows (AgentSpec.workflows) are archived too: a conversation's transcript
    outlives Temporal's retention like any agent run's trail."""
    from tests.test_support_conversation import handed_off, say

    rep = logged_in(make_user("support", "support_rep"))
    conversation = handed_off(client)
    conversation_id = conversation[0]
    projected_gate(temporal.client.get_workflow_handle(conversation_id))
    say(client, conversation, "My card ends 4242 and it was swallowed.")
    closed = rep.post(
        f"/conversations/{conversation_id}/reply/",
        {"text": "A new card is on its way.", "close": "1", "submission_id": str(uuid.uuid4())},
    )
    assert closed.status_code == 200
    temporal.run(temporal.client.get_workflow_handle(conversation_id).result(), timeout=30)

    record = archived(conversation_id)
    content = json.dumps(content_of(record))

    assert record.agent == "support"
    assert "My card ends 4242 and it was swallowed." in content
    assert "A new card is on its way." in content

"""`audit_verify` says OK only for what it checked: anything else an export carries (a key the
export never holds, a record content past the run's own, a chain head at odds with the records)
fails with its reason, and so does a file no reader could parse (nested too deep, too large),
instead of a traceback. Real runs, archived and exported through the portal."""

from __future__ import annotations

import copy
import json
import uuid

import pytest

from reviewer_portal.archive import chain
from reviewer_portal.archive import verify as verifier
from reviewer_portal.archive.chain import content_of
from reviewer_portal.archive.export import EXPORT_FORMAT
from tests.conftest import logged_in, make_user
from tests.test_archive import (  # noqa: F401  (archive_from_now is a fixture)
    _verify_file,
    archive_from_now,
    archived,
    decided_loan,
    verify,
)

UNCHECKED = "which audit_verify does not check: a reader could take it for verified."


@pytest.fixture
def export(temporal, archive_from_now) -> dict:  # noqa: F811  (the fixture imported above)
    """The export of an archived run whose chain has one more record after it."""
    handle = decided_loan(temporal, archive_from_now)
    record = archived(handle.id)
    later_id = f"loan-later-{uuid.uuid4().hex[:12]}"
    content = content_of(record)
    chain.append(
        namespace="default",
        kind="run",
        content={**content, "workflow_id": later_id, "trail": {**content["trail"], "workflow_id": later_id}},
        workflow_id=later_id,
        run_id=uuid.uuid4().hex,
        closed_at=record.closed_at,
    )
    exported = logged_in(make_user("auditor", "auditor")).get(f"/audit/{handle.id}/export.json").json()
    assert len(exported["archive"]["records"]) == 2
    return exported


def changed(export: dict, change) -> dict:
    altered = copy.deepcopy(export)
    change(altered)
    return altered


def test_an_export_carrying_anything_the_verifier_does_not_check_fails(export, tmp_path):
    """Each addition below used to pass with OK, though nothing checked it: a note at the top
    of the file, a field in a record's header (the record hash covers only the header's own
    fields), a content on a later record (only the run's record's content is hashed), a chain
    head that contradicts the records, a field beside the portal's signature, another namespace
    named in it, an export format this verifier does not know. Each now fails, saying what."""
    first, later = (r["header"]["seq"] for r in export["archive"]["records"])
    head = export["archive"]["head"]

    untouched = verify(tmp_path, export)
    note = verify(tmp_path, {**export, "approved_by": "the credit committee"})
    in_header = verify(
        tmp_path, changed(export, lambda e: e["archive"]["records"][0]["header"].update(approver="CEO"))
    )
    later_content = verify(
        tmp_path,
        changed(export, lambda e: e["archive"]["records"][1].update(content={"trail": "another story"})),
    )
    head_note = verify(tmp_path, changed(export, lambda e: e["archive"]["head"].update(note="all verified")))
    head_forked = verify(
        tmp_path, changed(export, lambda e: e["archive"]["head"].update(record_hash="f" * 64))
    )
    head_behind = verify(tmp_path, changed(export, lambda e: e["archive"]["head"].update(seq=first - 1)))
    beside_signature = verify(
        tmp_path, changed(export, lambda e: e["archive"]["signed"].update(signed_by="the board"))
    )
    other_namespace = verify(
        tmp_path, changed(export, lambda e: e["archive"]["signed"].update(namespace="payments"))
    )
    in_archive = verify(tmp_path, changed(export, lambda e: e["archive"].update(verdict="OK")))
    other_format = verify(tmp_path, {**export, "format": "reviewer-portal/audit-export/v2"})

    assert untouched[0] == 0 and untouched[1].startswith(f"OK: {export['workflow_id']} is record #{first}")
    assert head["seq"] == later and export["format"] == EXPORT_FORMAT
    assert note == (1, f"FAILED: The export carries 'approved_by', {UNCHECKED}")
    assert in_header == (1, f"FAILED: Record #{first}'s header carries 'approver', {UNCHECKED}")
    assert later_content == (1, f"FAILED: Record #{later} carries 'content', {UNCHECKED}")
    assert head_note == (1, f"FAILED: The export's chain head carries 'note', {UNCHECKED}")
    contradicts = (
        "FAILED: The chain head the export names ({}) does not agree with its records, which end at #{} {}."
    )
    assert head_forked == (1, contradicts.format(f"#{later} {'f' * 16}", later, head["record_hash"][:16]))
    assert head_behind == (
        1,
        contradicts.format(f"#{first - 1} {head['record_hash'][:16]}", later, head["record_hash"][:16]),
    )
    assert beside_signature == (1, f"FAILED: The portal's signature carries 'signed_by', {UNCHECKED}")
    assert other_namespace == (
        1,
        "FAILED: The portal's signature names namespace 'payments', not the chain's ('default').",
    )
    assert in_archive == (1, f"FAILED: The export's archive carries 'verdict', {UNCHECKED}")
    assert other_format == (
        1,
        "FAILED: The file is an audit export in a format this audit_verify does not know "
        "('reviewer-portal/audit-export/v2').",
    )


def test_a_file_nested_too_deep_fails_as_no_audit_export_instead_of_a_traceback(tmp_path):
    """'[' * 200000 used to raise RecursionError out of the JSON parser, a traceback instead of a
    FAILED line; now it fails as no audit export, saying why."""
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000)

    assert _verify_file(deep) == (
        1,
        "FAILED: The file is not an audit export (nested too deeply to be one).",
    )


def test_a_file_larger_than_any_export_fails_unread(tmp_path, monkeypatch):
    """A file over MAX_EXPORT_BYTES used to be read and parsed whole; it now fails before
    parsing, saying the limit (made small here so the test writes a small file)."""
    monkeypatch.setattr(verifier, "MAX_EXPORT_BYTES", 1000, raising=False)
    large = tmp_path / "large.json"
    large.write_text(json.dumps({"format": EXPORT_FORMAT, "entries": ["x" * 1000]}))

    assert _verify_file(large) == (
        1,
        "FAILED: The file is not an audit export (larger than 1000 bytes, which no export reaches).",
    )

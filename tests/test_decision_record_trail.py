"""The AI Act record tells who decided, and why, as the run's trail holds it: the decision the
portal signed (checked with the portal's public keys), or the SLA policy's closure. An edit of the
gate projection in the database (the reviewer, the reason, the outcome, "the policy did it") is
shown as a difference, never as the truth. Real dev server, real worker, real archive.

What happens to each edit or outage:
- the reviewer, their id, the outcome or the reason edited: the record names the signer and their
  words; the page says the records differ, field by field, as an alert;
- a person's decision rewritten as the SLA policy's (or the reverse): the trail's story is told;
- Temporal has forgotten the run: the archive's record is read (checked in its chain) instead;
- Temporal unreachable: the record says it was not checked, and shows the projection.
"""

from __future__ import annotations

import json

import pytest

from reviewer_portal.inbox.models import Gate
from reviewer_portal.temporal_client import reset_client
from tests import test_archive
from tests.conftest import APPROVABLE, decide, loan_input, logged_in, make_user, projected_gate, start_loan
from tests.test_archive import archived, delete_from_temporal

archive_from_now = test_archive.archive_from_now  # the fixture, shared with the archive's tests
REASON = "Affordable, and within appetite — verified payslips \N{GRINNING FACE}."  # a dash, an emoji


@pytest.fixture
def auditor(portal_settings):
    return logged_in(make_user("audrey", "auditor"))


def approved_by_officer(temporal, portal) -> Gate:
    handle = start_loan(temporal, portal, loan_input(APPROVABLE))
    gate = projected_gate(handle)
    officer = logged_in(make_user("officer", "credit_officer"))
    decide(officer, gate, reason=REASON)
    assert temporal.run(handle.result(), timeout=30).outcome == "approved"
    return Gate.objects.get(pk=gate.pk)


def record_of(auditor, gate: Gate) -> dict:
    response = auditor.get(f"/audit/decisions/{gate.gate_id}.json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_an_untouched_record_matches_the_signed_decision(temporal, portal, auditor):
    gate = approved_by_officer(temporal, portal)

    record = record_of(auditor, gate)
    page = auditor.get(f"/audit/decisions/{gate.gate_id}/").content.decode()

    check = record["trail_check"]
    assert check["state"] == "matches", check
    assert check["statement"] == "Matches officer's signed decision in the run's trail, read from Temporal."
    assert check["signed"]["reviewer"] == "officer" and check["signed"]["key_id"]
    assert record["human_decision"]["reviewer"] == "officer" and record["decision"]["reason"] == REASON
    assert 'data-state="matches"' in page and 'role="alert"' not in page


def test_an_edited_projection_is_shown_as_such_and_the_signed_decision_is_told(temporal, portal, auditor):
    gate = approved_by_officer(temporal, portal)
    Gate.objects.filter(pk=gate.pk).update(
        decided_by="mallory", decided_by_id="999", reason="Edited after the fact.", status="rejected"
    )

    record = record_of(auditor, gate)
    page = auditor.get(f"/audit/decisions/{gate.gate_id}/").content.decode()

    check = record["trail_check"]
    assert check["state"] == "differs"
    assert {d["name"]: (d["trail"], d["projection"]) for d in check["differences"]} == {
        "decided_by": ("officer", "mallory"),
        "decided_by_id": (gate.decided_by_id, "999"),
        "status": ("approved", "rejected"),
        "reason": (REASON, "Edited after the fact."),
    }
    assert record["human_decision"]["reviewer"] == "officer"
    assert (record["decision"]["status"], record["decision"]["reason"]) == ("approved", REASON)
    assert 'data-state="differs"' in page and 'role="alert"' in page
    assert "officer (Credit officer) approved it." in page and "mallory" in page  # in the differences table


def test_a_persons_decision_rewritten_as_the_sla_policys_is_told_as_the_persons(temporal, portal, auditor):
    gate = approved_by_officer(temporal, portal)
    Gate.objects.filter(pk=gate.pk).update(decided_by="system", decided_by_id="", decided_via="")

    record = record_of(auditor, gate)

    assert record["trail_check"]["state"] == "differs"
    assert record["decision"]["by"] == "person" and record["human_decision"]["reviewer"] == "officer"


def test_an_sla_closure_matches_and_a_person_written_over_it_is_refused(temporal, portal, auditor):
    handle = start_loan(temporal, portal, loan_input(sla_seconds=3, escalation_sla_seconds=3))
    assert temporal.run(handle.result(), timeout=60).gate.decided_by == "system"
    gate = projected_gate(handle, version=3)
    assert gate.decided_by == "system"

    untouched = record_of(auditor, gate)
    Gate.objects.filter(pk=gate.pk).update(decided_by="officer", decided_by_id="1", status="approved")
    edited = record_of(auditor, gate)

    assert untouched["trail_check"]["state"] == "matches", untouched["trail_check"]
    assert "the SLA policy's closure" in untouched["trail_check"]["statement"]
    assert edited["trail_check"]["state"] == "differs"
    assert edited["human_decision"] is None and edited["decision"]["by"] == "sla_policy"
    assert edited["decision"]["status"] == "rejected"


def test_after_temporal_forgot_the_run_the_record_is_checked_against_the_archive(
    temporal,
    archive_from_now,
    auditor,
):
    gate = approved_by_officer(temporal, archive_from_now)
    archived(gate.workflow_id)
    delete_from_temporal(temporal, gate.workflow_id)
    Gate.objects.filter(pk=gate.pk).update(reason="Edited after the fact.")

    check = record_of(auditor, gate)["trail_check"]

    assert check["state"] == "differs" and check["source"] == "the archive"
    assert [(d["name"], d["trail"]) for d in check["differences"]] == [("reason", REASON)]


def test_with_temporal_unreachable_the_record_says_it_was_not_checked(temporal, portal, auditor, settings):
    gate = approved_by_officer(temporal, portal)
    settings.TEMPORAL_ADDRESS = "127.0.0.1:9"  # nothing listens: Temporal is down
    reset_client()

    record = record_of(auditor, gate)

    assert record["trail_check"]["state"] == "not_checked"
    assert record["trail_check"]["statement"].startswith("Not checked against the run's trail:")
    assert record["human_decision"]["reviewer"] == "officer"  # the projection, said to be unchecked

"""The AI Act record tells who decided, and why, as the run's trail holds it: the decision the
portal signed (checked with the portal's public keys), or the SLA policy's closure. An edit of the
gate projection in the database (the reviewer, the reason, the outcome, "the policy did it") is
shown as a difference, never as the truth. Real dev server, real worker, real archive.

What happens to each edit or outage:
- the reviewer, their id, the outcome or the reason edited: the record names the signer and their
  words; the page says the records differ, field by field, as an alert;
- a person's decision rewritten as the SLA policy's (or the reverse): the trail's story is told;
- Temporal has forgotten the run: the archive's record is read (checked in its chain) instead;
- Temporal unreachable: the record says it was not checked, and shows the projection;
- (from the review) the row's workflow id pointed at a run Temporal does not know: no trail stands
  behind the record, an alert, never "not checked"; the case, the AI's recommendation, the role,
  the times or the edit diff edited: each a difference (the run's last snapshot vouches for them);
  the row edited back to "pending": the record is still served, from the trail; an action row in
  a state the portal never writes: no 500; an operator's reason with a trailing space: matches (the
  run keeps it stripped);
- a support conversation's handoff: tests/test_handoff_trail_check.py.
"""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from reviewer_portal.inbox.models import ActionAttempt, Gate
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
    assert check["statement"] == (
        "Matches officer's signed decision and the run's last snapshot of the gate in the run's trail, "
        "read from Temporal."
    )
    assert {"case", "recommendation", "role", "decided_at", "edit_diff", "reason"} <= set(check["checked"])
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


def test_a_row_pointed_at_a_run_temporal_does_not_know_is_an_alert_not_an_outage(temporal, portal, auditor):
    gate = approved_by_officer(temporal, portal)
    Gate.objects.filter(pk=gate.pk).update(
        workflow_id="loan-nothing-here", decided_by="mallory", decided_by_id="999", status="rejected"
    )

    record = record_of(auditor, gate)

    assert record["trail_check"]["state"] == "differs"
    assert record["human_decision"]["reviewer"] == "officer"  # the run the gate's id names was read
    assert "workflow_id" in [d["name"] for d in record["trail_check"]["differences"]]


def test_every_field_the_runs_last_snapshot_holds_is_checked(temporal, portal, auditor):
    gate = approved_by_officer(temporal, portal)
    Gate.objects.filter(pk=gate.pk).update(
        role="senior_credit_officer",
        recommendation="decline",
        case={**gate.case, "annual_income": 1},
        decided_at=gate.decided_at - timedelta(days=3),
        edit_diff="- amount: 1\n+ amount: 2",
    )

    record = record_of(auditor, gate)

    names = {d["name"] for d in record["trail_check"]["differences"]}
    assert names == {"role", "recommendation", "case", "decided_at", "edit_diff"}
    assert record["human_decision"]["role_label"] == "Credit officer"
    assert record["ai_recommendation"]["outcome"] == "approve"
    assert record["human_override"]["assessment"] == "The reviewer followed the AI's recommendation."
    assert record["inputs"]["case"]["annual_income"] == APPROVABLE.annual_income


def test_a_row_edited_back_to_pending_still_has_its_record_told_from_the_trail(temporal, portal, auditor):
    gate = approved_by_officer(temporal, portal)
    Gate.objects.filter(pk=gate.pk).update(status="pending", decided_by="", decided_at=None)

    record = record_of(auditor, gate)

    assert record["trail_check"]["state"] == "differs"
    assert (record["decision"]["status"], record["human_decision"]["reviewer"]) == ("approved", "officer")


def test_an_action_row_in_a_state_the_portal_never_writes_does_not_break_the_record(
    temporal, portal, auditor
):
    gate = approved_by_officer(temporal, portal)
    officer = ActionAttempt.objects.filter(gate=gate).first().reviewer
    ActionAttempt.objects.create(
        action_id="x:1", gate=gate, reviewer=officer, action="annotate", status="bogus"
    )

    assert record_of(auditor, gate)["trail_check"]["state"] == "matches"
    assert auditor.get(f"/audit/{gate.workflow_id}/").status_code == 200


def test_an_operators_reason_with_a_trailing_space_matches_as_the_run_keeps_it(temporal, portal, auditor):
    handle = start_loan(temporal, portal, loan_input(APPROVABLE))
    gate = projected_gate(handle)
    make_user("root", superuser=True)
    call_command(
        "operator_action",
        gate.gate_id,
        "approve",
        "--as",
        "root",
        "--reason",
        "Committee approved. ",
        stdout=StringIO(),
    )
    temporal.run(handle.result(), timeout=30)

    check = record_of(auditor, Gate.objects.get(pk=gate.pk))["trail_check"]

    assert check["state"] == "matches", check

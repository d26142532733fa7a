"""How the audit trail reads a retried opening task (reviewer_portal/audit/first_seen.py): from
the decoded JSON of the local publish's marker, the time the run took, only where the run took it;
its copy of the rule agrees with the run's and the local publish's (`sla.at_opening`)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.converter import DataConverter

from agents.framework.gate_changes import GatePublication
from agents.framework.patches import IN_PATCH_SET, PATCH_FIRST_SEEN_OPENING, PATCH_SET
from agents.framework.sla import at_opening
from reviewer_portal.audit.first_seen import Retried, opened_when_first_seen
from tests.test_gate_rules import gate
from tests.test_opening_retried import revision

SNAPSHOT = {
    "opened_at": "2026-11-28T12:00:00+00:00",
    "deadline": "2026-11-28T12:30:00+00:00",
    "sla_seconds": 1800,
    "version": 1,
    "escalation_level": 0,
    "revisions": [],
}


@pytest.mark.parametrize(
    "first_seen",
    ["", None, 12, "not a time", "2026-11-28T12:00:05+00:00", "2026-11-28T12:00:00+00:00", "\u202e2026"],
)
def test_the_trail_takes_no_time_the_run_would_not_take(first_seen):
    """Later than the run's own, the same, or not a time at all: the trail shows the publication
    as it is, as the run kept it, and says nothing of a retry."""
    publication = {"snapshot": SNAPSHOT}
    assert opened_when_first_seen(publication, first_seen, {PATCH_SET}) == Retried(publication)


def test_the_trail_takes_the_first_seen_time_only_for_an_opening_of_a_run_of_a_set_with_the_patch():
    publication = {"snapshot": SNAPSHOT}
    first_seen = "2026-11-28T11:59:50+00:00"
    assert PATCH_FIRST_SEEN_OPENING in IN_PATCH_SET

    moved = opened_when_first_seen(publication, first_seen, {PATCH_SET})
    kept = opened_when_first_seen(publication, first_seen, {"patch-set-2026-11f"})
    carried = {"snapshot": {**SNAPSHOT, "version": 4}}

    assert moved.publication["snapshot"] == {
        **SNAPSHOT,
        "opened_at": first_seen,
        "deadline": "2026-11-28T12:29:50+00:00",
    }
    assert moved.note.startswith(
        "Opening task retried: the gate keeps the time reviewers first saw it, 2026-11-28T11:59:50"
    )
    assert kept.publication == publication
    assert "this run, begun before that was taken, keeps 2026-11-28T12:00:00+00:00" in kept.note
    assert opened_when_first_seen(carried, first_seen, {PATCH_SET}) == Retried(carried)


@pytest.mark.parametrize(
    "change",
    [{}, {"version": 3}, {"escalation_level": 1}, {"revisions": [revision()]}],
    ids=["opening", "later-version", "escalated", "revised"],
)
def test_the_trail_reads_an_opening_as_the_run_and_the_local_publish_do(change):
    """The trail reads the decoded JSON, not the dataclass: its copy of `at_opening` must agree."""
    opened = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    snapshot = replace(gate(opened_at=opened, deadline=opened + timedelta(hours=1)), **change)
    payload = DataConverter.default.payload_converter.to_payloads([GatePublication(snapshot=snapshot)])[0]
    decoded = json.loads(payload.data)
    first_seen = (opened - timedelta(seconds=10)).isoformat()

    moved = opened_when_first_seen(decoded, first_seen, {PATCH_SET}).publication != decoded
    assert moved == at_opening(snapshot) == (change == {})

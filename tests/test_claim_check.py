"""Large payloads go to the claim-check store; history keeps only small references."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from temporalio.converter import StorageDriverClaim

from agents.framework.claim_check import FileClaimCheck
from tests.conftest import decide, loan_input, logged_in, make_user, projected_gate, start_loan

LARGE_NOTE = "Branch notes on the applicant's circumstances. " * 12_000  # about 560 kB


def test_a_large_case_travels_by_reference_and_reads_back_everywhere(temporal, portal):
    agent_input = loan_input(submitted_by="intake")
    agent_input.case["branch_notes"] = LARGE_NOTE
    handle = start_loan(temporal, portal, agent_input)
    gate = projected_gate(handle)
    decide(logged_in(make_user("officer", "credit_officer")), gate, reason="ok")
    result = temporal.run(handle.result())

    history = temporal.run(handle.fetch_history())
    payload_sizes = [
        payload.ByteSize()
        for event in history.events
        for field in (
            "activity_task_scheduled_event_attributes",
            "workflow_execution_started_event_attributes",
        )
        if event.HasField(field)
        for payload in getattr(event, field).input.payloads
    ]
    assert max(payload_sizes) < settings.CLAIM_CHECK_THRESHOLD_BYTES  # nothing large inline
    assert history.events[0].workflow_execution_started_event_attributes.input.payloads[0].external_payloads
    stored = list(Path(settings.CLAIM_CHECK_DIR).glob("*/*"))
    assert stored and max(p.stat().st_size for p in stored) > len(LARGE_NOTE)

    assert result.outcome == "approved" and result.gate.case["branch_notes"] == LARGE_NOTE
    assert gate.case["branch_notes"] == LARGE_NOTE  # the worker resolved it for the projection
    audit = logged_in(make_user("auditor", "auditor")).get(f"/audit/{gate.workflow_id}/export.json")
    assert LARGE_NOTE[:200] in audit.content.decode()


@pytest.mark.parametrize("digest", ["../../../../etc/passwd", "/dev/zero", "", "ab" * 31 + "zz"])
def test_a_claim_reference_that_is_not_a_sha256_is_refused_without_touching_the_disk(tmp_path, digest):
    # Anyone who can send an Update can write a claim reference into it.
    store = FileClaimCheck(tmp_path)

    with pytest.raises(ValueError, match="malformed"):
        store._retrieve(StorageDriverClaim(claim_data={"sha256": digest}))

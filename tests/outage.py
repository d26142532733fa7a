"""Claim-first loan gates whose worker has stopped: what a reviewer decides then is queued, and
sent by the delivery loop once a worker runs again (tests/test_bulk_outage.py,
tests/test_queued_decision_checks.py)."""

from __future__ import annotations

from contextlib import suppress

import pytest
from temporalio.service import RPCError

from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES

TIMEOUT_SECONDS = 2
GATES = 4  # one after another, they took at least 4 timeouts


@pytest.fixture
def gates_without_worker(settings, temporal, portal_settings):
    """Loans at their (claim-first) gates, their worker stopped since: (queue, handles, gates)."""
    from tests.conftest import APPROVABLE, loan_input, projected_gate, start_loan  # conftest imports this

    with temporal.worker(portal_activities=PORTAL_ACTIVITIES) as queue:
        settings.TEMPORAL_TASK_QUEUE = queue
        handles = [start_loan(temporal, queue, loan_input(APPROVABLE)) for _ in range(GATES)]
        gates = [projected_gate(handle) for handle in handles]
    assert all(gate.claim_required and not gate.assignee for gate in gates)
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = TIMEOUT_SECONDS
    yield queue, handles, gates
    for handle in handles:
        with suppress(RPCError):  # those a test decided have completed
            temporal.run(handle.terminate("test done"))


def bulk_form(gates: list[Gate], submission_id: str) -> dict:
    """The inbox's bulk form approving `gates`."""
    return {
        "gate_ids": [gate.gate_id for gate in gates],
        "decision": "approve",
        "reason_text": "Low risk, within policy.",
        "submission_id": submission_id,
    }

"""Claim-first loan gates whose worker has stopped: what a reviewer decides then is queued, and
sent by the delivery loop once a worker runs again (tests/test_bulk_outage.py,
tests/test_queued_decision_checks.py, tests/test_queued_absences.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pytest
from temporalio.service import RPCError

from agents.framework.contract import ALL_GATES_QUERY
from agents.framework.types import GateSnapshot
from reviewer_portal.inbox import redelivery
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES

TIMEOUT_SECONDS = 2
GATES = 4  # one after another, they took at least 4 timeouts
HTMX = {"HX-Request": "true"}
QUEUED = "Your approval is recorded and will be sent"


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


def queued_in_bulk(officer, gate: Gate) -> None:
    """The officer approves `gate` from the inbox's bulk form while the worker is down: its claim
    and the approval behind it are queued."""
    from tests.conftest import logged_in  # conftest imports this

    response = logged_in(officer).post("/bulk/", bulk_form([gate], str(uuid.uuid4())), headers=HTMX)
    assert QUEUED in response.content.decode()
    assert set(ActionAttempt.objects.filter(gate=gate).values_list("status", flat=True)) == {"undelivered"}


@contextmanager
def worker_back(settings, temporal, queue: str) -> Iterator[None]:
    """The agents' worker runs again."""
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = 15  # a new worker first waits out the old sticky queue
    with temporal.worker(queue, portal_activities=PORTAL_ACTIVITIES):
        yield


def delivery_pass() -> dict[str, ActionAttempt]:
    """One pass of the delivery loop: what it made of each action, by action."""
    return {attempt.action: attempt for attempt in redelivery.actions_redeliver()}


def run_gate(temporal, handle) -> dict:
    """The gate as the run itself holds it."""
    [gate] = temporal.run(handle.query(ALL_GATES_QUERY, result_type=list[GateSnapshot]))
    return {"status": gate.status, "assignee": gate.assignee}


def wait_until(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.2)

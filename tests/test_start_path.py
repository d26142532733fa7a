"""The fast start path (issue 12): the process's Temporal Clients live on one long-lived event
loop, connected once; starts from many threads at once all reach Temporal; an outage is a clear
error with nothing recorded; the loop outlives a failed or timed-out call."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, WorkflowExecutionStatus

from reviewer_portal import temporal_client
from reviewer_portal.history.models import Submission
from reviewer_portal.intake.outcomes import RunNotStarted
from reviewer_portal.intake.services import intake_submit
from tests.conftest import in_threads, make_user

LOAN = {
    "applicant_name": "Ada Byron",
    "amount": 12000,
    "term_months": 36,
    "purpose": "car",
    "annual_income": 55000,
    "monthly_debts": 300,
    "credit_score": 720,
}


@pytest.fixture
def connects(monkeypatch) -> list[str]:
    """The namespaces the portal connected to, one entry per connection made."""
    made: list[str] = []
    connect = temporal_client.connect

    async def counted(namespace: str | None = None) -> Client:
        made.append(namespace or "")
        return await connect(namespace)

    monkeypatch.setattr(temporal_client, "connect", counted)
    return made


def submit(submitter, submission_id: str | None = None) -> str:
    return intake_submit(
        agent="loans", values=LOAN, submitted_by=submitter, submission_id=submission_id or str(uuid.uuid4())
    )


def test_starts_from_many_threads_at_once_share_one_client_and_all_reach_temporal(temporal, portal, connects):
    submitter = make_user("intake-officer", "credit_officer")

    workflow_ids = in_threads(lambda _: submit(submitter), list(range(24)), threads=12)

    assert len(connects) == 1
    assert len(set(workflow_ids)) == 24
    assert set(Submission.objects.values_list("workflow_id", flat=True)) == set(workflow_ids)
    for workflow_id in workflow_ids:
        described = temporal.run(temporal.client.get_workflow_handle(workflow_id).describe())
        assert described.status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED)


def test_an_async_caller_on_another_loop_uses_the_same_client(temporal, portal, connects):
    submitter = make_user("intake-officer", "credit_officer")
    submit(submitter)
    got: list[Client] = []

    def on_a_loop_of_its_own() -> None:  # as a daphne view would, on daphne's loop
        async def use() -> None:
            client = await temporal_client.get_client()
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            got.append(client)

        asyncio.run(use())

    thread = threading.Thread(target=on_a_loop_of_its_own)
    thread.start()
    thread.join(30)

    assert got == [asyncio.run(_cached())]
    assert len(connects) == 1


async def _cached() -> Client:
    return await temporal_client.get_client()


def test_temporal_down_is_a_clear_error_with_nothing_recorded_and_the_loop_carries_on(
    settings, temporal, portal, connects
):
    submitter = make_user("intake-officer", "credit_officer")
    settings.TEMPORAL_ADDRESS = "127.0.0.1:1"  # nothing listens there
    temporal_client.reset_client()

    with pytest.raises(RunNotStarted, match="Temporal is not reachable right now, so nothing was submitted"):
        submit(submitter, "first-try")
    assert not Submission.objects.exists()

    settings.TEMPORAL_ADDRESS = temporal.address  # Temporal is back: the same form again
    workflow_id = submit(submitter, "first-try")

    assert Submission.objects.get().workflow_id == workflow_id
    assert temporal.run(temporal.client.get_workflow_handle(workflow_id).describe()).status is not None
    assert len(connects) == 2  # the failed attempt, then one that stays


def test_a_call_that_outlasts_its_wait_is_cancelled_and_the_loop_serves_the_next():
    cancelled = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def failing() -> None:
        raise ValueError("refused")

    async def answer() -> int:
        return 42

    with pytest.raises(temporal_client.TemporalBusy):
        temporal_client.run_on_client_loop(slow(), timeout=0.2)
    with pytest.raises(ValueError, match="refused"):
        temporal_client.run_on_client_loop(failing())

    assert cancelled.wait(5)
    assert temporal_client.run_on_client_loop(answer()) == 42


def test_sync_code_on_the_client_loop_is_told_to_await_instead_of_deadlocking():
    async def nested() -> None:
        async def inner() -> None:
            return None

        temporal_client.run_on_client_loop(inner())

    with pytest.raises(RuntimeError, match="await instead"):
        temporal_client.run_on_client_loop(nested())


def test_a_conversation_start_that_outlasts_its_wait_never_says_none_started(temporal, portal, monkeypatch):
    """A start given up on may still reach Temporal: the customer is told to try again, never that
    no conversation started (found by the attacker's review of issue 12)."""
    from reviewer_portal.conversations import services as conversations

    real_client_for_agent = conversations.client_for_agent

    async def slow_client_for_agent(agent: str):  # the start outlasts the wait however busy the machine
        await asyncio.sleep(1.0)
        return await real_client_for_agent(agent)

    monkeypatch.setattr(conversations, "client_for_agent", slow_client_for_agent)
    monkeypatch.setattr(conversations, "START_TIMEOUT_SECONDS", 0.05)
    with pytest.raises(conversations.ConversationUnavailable) as refused:
        conversations.conversation_start(customer_id="cust-1")

    assert str(refused.value) == "Our assistant is busy right now. Try again shortly."
    assert isinstance(refused.value.__cause__, temporal_client.TemporalBusy)

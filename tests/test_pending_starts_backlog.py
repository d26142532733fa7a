"""A backlog of kept submissions (what an outage of Temporal leaves behind) and the delivery loop
(issue 12): the oldest is started alone, and the pass ends there if Temporal does not answer it
or refuses the portal itself; the rest are started together, each found started asked whose it
is at once, and one that outlasts its wave is left for the next pass while the others are
confirmed. Before, they were started one after another."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from agents.framework.types import AgentInput
from reviewer_portal import temporal_client
from reviewer_portal.history.models import Submission
from reviewer_portal.intake import pending_starts, services
from reviewer_portal.intake.outcomes import RunQueued
from reviewer_portal.intake.pending_starts import pending_starts_run
from tests import test_pending_starts
from tests.test_pending_starts import due_now, status, submit

# The fixtures, shared with the kept starts' own tests.
busy, submitter = test_pending_starts.busy, test_pending_starts.submitter


def kept_backlog(submitter, busy, n: int) -> list[str]:
    """`n` kept submissions, due, oldest first: their workflow ids."""
    for _ in range(n):
        with pytest.raises(RunQueued):
            submit(submitter, str(uuid.uuid4()))
    busy.undo()
    due_now()
    return list(Submission.objects.order_by("submitted_at").values_list("workflow_id", flat=True))


def test_a_backlog_of_kept_submissions_is_started_together_after_the_oldest_and_in_order(
    temporal, submitter, busy
):
    """Before, the loop started them one after another: a backlog an outage left drained at one
    start's round trip each. The later three here start only once all three are in flight."""
    kept_backlog(submitter, busy, 4)
    in_flight: list[str] = []

    async def together(workflow_id: str, agent_input: AgentInput) -> bool:
        in_flight.append(workflow_id)
        if len(in_flight) > 1:  # the oldest goes alone; the rest must be under way at once
            async with asyncio.timeout(10):
                while len(in_flight) < 4:
                    await asyncio.sleep(0.01)
        return await services.run_start(workflow_id, agent_input)

    busy.setattr(pending_starts, "run_start", together)

    started = pending_starts_run()

    oldest_first = list(Submission.objects.order_by("submitted_at").values_list("workflow_id", flat=True))
    assert started == oldest_first == in_flight[:1] + sorted(in_flight[1:], key=oldest_first.index)
    assert all(status(temporal, workflow_id) == WorkflowExecutionStatus.RUNNING for workflow_id in started)


def test_temporal_down_for_the_oldest_kept_submission_ends_the_pass_before_the_others_are_tried(
    settings, temporal, submitter, busy
):
    oldest, *_ = kept_backlog(submitter, busy, 3)
    tried: list[str] = []

    async def counted(workflow_id: str, agent_input: AgentInput) -> bool:
        tried.append(workflow_id)
        raise temporal_client.TemporalUnreachable("down")

    busy.setattr(pending_starts, "run_start", counted)

    assert pending_starts_run() == []
    assert tried == [oldest]
    assert not Submission.objects.filter(started=True).exists()


@pytest.mark.parametrize(
    "failure",
    [
        temporal_client.TemporalBusy("Temporal did not answer within 15 s."),
        RPCError("Request unauthorized.", RPCStatusCode.UNAUTHENTICATED, b""),
    ],
    ids=["whose-run-unanswered", "refused-for-the-portal"],
)
def test_the_oldest_found_started_but_unconfirmed_or_refused_for_the_portal_ends_the_pass(
    temporal, submitter, busy, failure
):
    """Before, a found-started run whose submitter could not be read was counted as settled: the
    rest were started, then checked one after another, each waiting out its deadline; and a
    refusal for the portal's own reasons sent the other 99 to be refused alike."""
    oldest, *_ = kept_backlog(submitter, busy, 3)
    tried: list[str] = []

    async def refused(workflow_id: str, agent_input: AgentInput) -> bool:
        tried.append(workflow_id)
        if isinstance(failure, RPCError):
            raise failure
        return False  # found started

    async def unanswered(workflow_id: str, agent: str) -> str:
        raise failure

    busy.setattr(pending_starts, "run_start", refused)
    busy.setattr(pending_starts, "run_submitter_id", unanswered)

    assert pending_starts_run() == []
    assert tried == [oldest]
    assert Submission.objects.filter(started=False, start_error="", start_attempts=0).count() == 3


def test_a_start_that_outlasts_its_wave_is_left_for_the_next_pass_and_the_others_are_confirmed(
    temporal, submitter, busy
):
    oldest, stuck, *others = kept_backlog(submitter, busy, 4)

    async def one_stuck(workflow_id: str, agent_input: AgentInput) -> bool:
        if workflow_id == stuck:
            await asyncio.sleep(60)
        return await services.run_start(workflow_id, agent_input)

    busy.setattr(pending_starts, "run_start", one_stuck)
    busy.setattr(pending_starts, "START_TIMEOUT_SECONDS", 2.0)

    assert pending_starts_run() == [oldest, *others]
    left = Submission.objects.get(workflow_id=stuck)
    assert (left.started, left.start_error) == (False, "") and left.start_input
    busy.undo()
    assert pending_starts_run() == [stuck]  # started now, or found started and its own

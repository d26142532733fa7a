"""Starting agent runs: the intake page and the demo command both submit through here."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
from collections.abc import Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, connection
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from agents.framework.contract import AGENT_WORKFLOW
from agents.framework.registry import AGENTS
from agents.framework.types import AgentInput, AgentResult, AgentRunSpec
from reviewer_portal.domains import domain_of
from reviewer_portal.history.models import Submission
from reviewer_portal.history.services import (
    SubmissionChanged,
    submission_given_up,
    submission_record,
    submission_started,
)
from reviewer_portal.intake.answers import REFUSED_FOR_ITSELF, UNCONFIRMED
from reviewer_portal.intake.content_digests import content_digest_of
from reviewer_portal.intake.kept_inputs import input_to_keep
from reviewer_portal.intake.outcomes import (
    NOT_RECORDED,
    NOT_STARTED,
    UNREACHABLE,
    RunChanged,
    RunNotStarted,
    RunOfAnother,
    RunQueued,
)
from reviewer_portal.request_threads import step_aside
from reviewer_portal.temporal_client import (
    START_TIMEOUT_SECONDS,
    TemporalUnreachable,
    get_client,
    run_on_client_loop,
    start_on_client_loop,
    start_slot,
)
from reviewer_portal.trust.keys import trusted_keys

# How long a start the submitter stopped waiting for may still go on; then it is cancelled and
# the delivery loop, which takes only submissions older than that, starts it.
START_LIFETIME_SECONDS = 60.0
log = logging.getLogger(__name__)


def intake_submit(
    *, agent: str, values: Mapping[str, Any], submitted_by: AbstractBaseUser, submission_id: str
) -> str:
    """Start `agent` on a submission of its declared intake; returns the workflow id (the same
    on a resubmit, so a form sent twice starts one run)."""
    intake = AGENTS[agent].intake
    if intake is None:
        raise ValueError(f"Agent {agent!r} declares no intake.")
    request = intake.to_run(values)
    workflow_id = f"{intake.workflow_prefix}{submission_id}"
    agent_input = AgentInput(
        spec=pinned_spec(agent), subject=request.subject, case=request.case, submitted_by=""
    )
    agent_run_start(workflow_id=workflow_id, agent_input=agent_input, submitted_by=submitted_by)
    return workflow_id


def pinned_spec(agent: str) -> AgentRunSpec:
    """What a new run of `agent` starts with: its latest prompt, and the deployment's model and
    SLAs for it where settings.AGENT_PINS names them."""
    return AGENTS[agent].pin(**settings.AGENT_PINS.get(agent, {}))


def agent_run_start(*, workflow_id: str, agent_input: AgentInput, submitted_by: AbstractBaseUser) -> None:
    """Start an agent run on the configured task queue; starting the same id again is a no-op,
    so every intake page can key its runs by the form's submission id.

    The submission is recorded first, its input kept sealed, then the run is started and the
    record confirmed: a run the portal starts always has its submission, and a record that fails
    starts nothing. The run records its submitter by username and immutable user id (four eyes),
    and pins the key the portal signs reviewer actions with. Raises RunNotStarted if the
    submission cannot be recorded or Temporal cannot be reached (nothing kept), RunOfAnother for
    another's form id, RunChanged for the user's own form id sent before with other content
    (content_digest_of; nothing started or replaced), and RunQueued if Temporal does not confirm
    the start within START_WAIT_SECONDS (a burst queues on the client loop; a hung connection or a
    lost answer counts too): the submission stays kept, and the start goes on for
    START_LIFETIME_SECONDS. The same form with the same content again is the same submission.
    """
    agent_input = replace(
        agent_input,
        submitted_by=submitted_by.get_username(),
        submitted_by_id=str(submitted_by.pk),
        trusted_keys=trusted_keys(),
    )
    try:
        submission, created = submission_record(
            workflow_id=workflow_id,
            agent=agent_input.spec.agent,
            subject=agent_input.subject,
            submitted_by=submitted_by,
            start_input=input_to_keep(agent_input, workflow_id),
            content_digest=content_digest_of(agent_input),
        )
    except SubmissionChanged as err:
        raise RunChanged(workflow_id) from err
    except DatabaseError as err:
        log.exception("Submission %s not recorded", workflow_id)
        raise RunNotStarted(NOT_RECORDED) from err
    if submission.submitted_by_id != submitted_by.pk:
        raise RunOfAnother(workflow_id)  # never start, confirm or take over another's submission
    if submission.started:
        return  # the same form again, its run long confirmed
    # The start's coroutine is made here, not when the client loop comes to it: this start, whatever
    # happens meanwhile (a busy loop, a test that restores the real start).
    start = run_start(workflow_id, agent_input)
    starting = start_on_client_loop(_start_within(start, settings.START_WAIT_SECONDS))
    step_aside()  # on a request thread, the next request may run while this one waits
    try:
        started = starting.result(timeout=settings.START_WAIT_SECONDS)
    except concurrent.futures.TimeoutError:
        # Not confirmed yet, and not given up: the start goes on and confirms the kept
        # submission when it succeeds, or else the delivery loop does.
        starting.add_done_callback(partial(_confirm_when_started, workflow_id))
        raise RunQueued(workflow_id) from None
    except (TemporalUnreachable, RPCError) as err:
        unconfirmed = isinstance(err, RPCError) and err.status in UNCONFIRMED
        for_itself = isinstance(err, RPCError) and err.status in REFUSED_FOR_ITSELF
        if unconfirmed or not (created or for_itself):
            raise RunQueued(workflow_id) from err  # it may have started, or was kept before
        if created:
            _forget(submission)  # no start was made, or Temporal refused it
        elif isinstance(err, RPCError):  # kept by an earlier send: refused as it is, not tried again
            submission_given_up(workflow_id=workflow_id, why=f"Temporal refused it: {err.message}")
        if isinstance(err, RPCError):
            raise RunNotStarted(f"Temporal refused it ({err.message}), so nothing was submitted.") from err
        raise RunNotStarted(UNREACHABLE) from err
    except Exception as err:  # before anything was sent: the portal's keys, its claim-check store
        log.exception("Run %s not started", workflow_id)
        if not created:
            raise RunQueued(workflow_id) from err  # kept before: the delivery loop tries again
        _forget(submission)
        raise RunNotStarted(NOT_STARTED) from err
    if not started and not _started_for(workflow_id, agent_input.spec.agent, submitted_by.pk):
        if created:
            _forget(submission)
        raise RunOfAnother(workflow_id)
    _confirm(workflow_id, started)


def run_input_unchanged(*, workflow_id: str, agent_input: AgentInput, submitted_by: AbstractBaseUser) -> None:
    """Raise RunChanged if `submitted_by` already submitted other content under `workflow_id`: a
    read, for work to spare before agent_run_start (which checks again as it records)."""
    submission = Submission.objects.filter(workflow_id=workflow_id, submitted_by_id=submitted_by.pk).first()
    if submission is not None and submission.holds_other_content(content_digest_of(agent_input)):
        raise RunChanged(workflow_id)


async def _start_within(start: Coroutine[Any, Any, str], wait: float) -> str:
    """The start, given at most `wait` + START_LIFETIME_SECONDS: one the submitter stopped waiting
    for goes on that long, then the delivery loop takes over."""
    async with asyncio.timeout(wait + START_LIFETIME_SECONDS):
        return await start


def _started_for(workflow_id: str, agent: str, user_pk: Any) -> bool:
    """A start found its run already there: whether that run was started for this user (the same
    form sent twice at once) or by someone else, outside the portal."""
    try:
        return run_started_for(workflow_id, agent, user_pk)
    except Exception as err:  # Temporal unreachable, or its answer unreadable
        raise RunQueued(workflow_id) from err  # the delivery loop finds out


def run_started_for(workflow_id: str, agent: str, user_pk: Any) -> bool:
    """Whether the run under `workflow_id` was started for the user `user_pk` (from sync code)."""
    submitter = run_on_client_loop(run_submitter_id(workflow_id, agent), timeout=START_TIMEOUT_SECONDS)
    return submitter == str(user_pk)


def _forget(submission: Submission) -> None:
    """Nothing was started for the submission this call recorded: it is not kept (unless the same
    form, sent again meanwhile, kept it afresh)."""
    kept = Submission.objects.filter(pk=submission.pk, started=False, submitted_at=submission.submitted_at)
    try:
        kept.delete()
    except DatabaseError:
        log.exception(
            "Submission %s not started, and not forgotten: the delivery loop will start it",
            submission.workflow_id,
        )


def _confirm_when_started(workflow_id: str, starting: concurrent.futures.Future[str]) -> None:
    """A kept submission's start finished (on the client loop, where the ORM may not run)."""
    if starting.cancelled():
        return
    if (error := starting.exception()) is not None:
        log.warning("Kept submission %s not started yet (%r); the delivery loop will", workflow_id, error)
        return
    if not (chain := starting.result()):
        return  # found started: the delivery loop checks whose run it is
    try:
        _confirmations().submit(_confirm_apart, workflow_id, chain)
    except RuntimeError:  # the process is shutting down: the delivery loop confirms it
        log.warning("Start of %s not confirmed here; the delivery loop will", workflow_id)


def _confirm(workflow_id: str, chain: str) -> None:
    try:
        submission_started(workflow_id=workflow_id, chain=chain)
    except DatabaseError:
        log.exception("Start of %s not confirmed here; the delivery loop will", workflow_id)


def _confirm_apart(workflow_id: str, chain: str) -> None:
    """_confirm on the confirmations' own thread, whose connection is closed after each."""
    try:
        _confirm(workflow_id, chain)
    finally:
        connection.close()


_pool: tuple[int, ThreadPoolExecutor] | None = None


def _confirmations() -> ThreadPoolExecutor:
    """One thread per process (a forked child makes its own) confirming kept submissions."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="start-confirmations"))
    return _pool[1]


async def run_start(workflow_id: str, agent_input: AgentInput) -> str:
    """Start the run and answer its chain (its run id, from Temporal's answer), or find it started
    (""): the same workflow id is never started twice."""
    domain = domain_of(agent_input.spec.agent)
    client = await get_client(domain.namespace)
    async with start_slot():
        try:
            handle = await client.start_workflow(
                AGENT_WORKFLOW,
                agent_input,
                result_type=AgentResult,
                id=workflow_id,
                task_queue=domain.task_queue,
                # A form submitted again, even after its run closed, never starts a second run.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            return ""
    return handle.first_execution_run_id or handle.result_run_id or ""


async def run_submitter_id(workflow_id: str, agent: str) -> str:
    """The immutable id of the user the run under `workflow_id` was started for (its input's).
    One call for the history's first event, no iterator left open to fetch more."""
    client = await get_client(domain_of(agent).namespace)
    answer = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id),
            maximum_page_size=1,
        )
    )
    events = answer.history.events
    try:
        payloads = events[0].workflow_execution_started_event_attributes.input.payloads
        [started] = await client.data_converter.decode(payloads[:1], [AgentInput])
    except Exception:  # no input, or not an agent run's: started by no one here
        return ""
    return str(started.submitted_by_id)

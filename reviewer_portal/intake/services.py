"""Starting agent runs: the intake page and the demo command both submit through here."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.db import connection
from temporalio.common import WorkflowIDReusePolicy
from temporalio.converter import AdvancedJSONEncoder, value_to_type
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from agents.framework.contract import AGENT_WORKFLOW
from agents.framework.registry import AGENTS
from agents.framework.types import AgentInput, AgentResult, AgentRunSpec
from reviewer_portal.domains import domain_of
from reviewer_portal.history.models import Submission
from reviewer_portal.history.services import submission_record, submission_started
from reviewer_portal.temporal_client import (
    TemporalUnreachable,
    get_client,
    start_on_client_loop,
    start_slot,
)
from reviewer_portal.trust.keys import trusted_keys

# How long a start the submitter stopped waiting for may still go on; then it is cancelled and
# the delivery loop, which takes only submissions older than that, starts it.
START_LIFETIME_SECONDS = 60.0
log = logging.getLogger(__name__)
KEPT_INPUT_SALT = "reviewer_portal.intake.kept-run-input"
QUEUED = (
    "Temporal is busy right now, so the run may not have started yet. Your submission is kept: the"
    " portal starts it as soon as Temporal answers, and you need not send it again."
)
FORM_OF_ANOTHER = "This form was already sent by someone else; reload the page to submit your own."


class RunNotStarted(Exception):
    """Temporal could not be reached: nothing was started or kept; the submitter may simply send
    the same form again."""


class RunQueued(RunNotStarted):
    """Temporal did not confirm the start within the wait (the run may have started): the
    submission is kept with the run's input, the start goes on and confirms it, or else the
    delivery loop starts the run, or finds it started (reviewer_portal.intake.pending_starts).
    Sending the same form again is harmless."""

    def __init__(self, message: str, workflow_id: str) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id


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

    The run records its submitter by username and immutable user id (four eyes), and pins the key
    the portal signs reviewer actions with. Raises RunNotStarted if Temporal cannot be reached
    within the wait (nothing kept), and RunQueued if it does not confirm the start within
    START_WAIT_SECONDS (a burst of starts queues on the client loop; a connection that hangs counts
    too): the submission is kept, and the start goes on for START_LIFETIME_SECONDS.
    """
    agent_input = replace(
        agent_input,
        submitted_by=submitted_by.get_username(),
        submitted_by_id=str(submitted_by.pk),
        trusted_keys=trusted_keys(),
    )
    if Submission.objects.filter(workflow_id=workflow_id).exclude(submitted_by_id=submitted_by.pk).exists():
        # Another user's form id: never start, confirm or take over their submission.
        raise RunNotStarted(FORM_OF_ANOTHER)
    record = partial(
        submission_record,
        workflow_id=workflow_id,
        agent=agent_input.spec.agent,
        subject=agent_input.subject,
        submitted_by=submitted_by,
    )
    starting = start_on_client_loop(_start_within(workflow_id, agent_input, settings.START_WAIT_SECONDS))
    try:
        starting.result(timeout=settings.START_WAIT_SECONDS)
    except concurrent.futures.TimeoutError:
        # Not confirmed yet, and not given up: the start goes on. Kept meanwhile, the submission is
        # confirmed by the start when it succeeds, or else by the delivery loop.
        record(start_input=input_to_keep(agent_input, workflow_id))
        starting.add_done_callback(partial(_confirm_when_started, workflow_id))
        raise RunQueued(QUEUED, workflow_id) from None
    except (TemporalUnreachable, RPCError) as err:
        raise RunNotStarted(
            "Temporal is not reachable right now, so nothing was submitted. Try again."
        ) from err
    record()


async def _start_within(workflow_id: str, agent_input: AgentInput, wait: float) -> None:
    """The start, given at most `wait` + START_LIFETIME_SECONDS: one the submitter stopped waiting
    for goes on that long, then the delivery loop takes over (never both at once)."""
    async with asyncio.timeout(wait + START_LIFETIME_SECONDS):
        await run_start(workflow_id, agent_input)


def _confirm_when_started(workflow_id: str, starting: concurrent.futures.Future[None]) -> None:
    """A kept submission's start finished (on the client loop, where the ORM may not run)."""
    if starting.cancelled():
        return
    if (error := starting.exception()) is not None:
        log.warning("Kept submission %s not started yet (%r); the delivery loop will", workflow_id, error)
        return
    try:
        _confirmations().submit(_confirm, workflow_id)
    except RuntimeError:  # the process is shutting down: the delivery loop confirms it
        log.warning("Start of %s not confirmed here; the delivery loop will", workflow_id)


def _confirm(workflow_id: str) -> None:
    try:
        submission_started(workflow_id=workflow_id)
    except Exception:
        log.exception("Start of %s not confirmed here; the delivery loop will", workflow_id)
    finally:
        connection.close()


_pool: tuple[int, ThreadPoolExecutor] | None = None


def _confirmations() -> ThreadPoolExecutor:
    """One thread per process (a forked child makes its own) confirming kept submissions."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="start-confirmations"))
    return _pool[1]


def input_to_keep(agent_input: AgentInput, workflow_id: str) -> dict[str, Any]:
    """The run's input as Temporal's JSON, sealed with the portal's secret and bound to its
    workflow id, to keep in the database until the run starts: it holds the run's policy, which
    someone able to write to the database must not choose, nor copy to another submission."""
    data = json.loads(json.dumps(agent_input, cls=AdvancedJSONEncoder))
    sealed = signing.dumps({"workflow_id": workflow_id, "input": data}, salt=KEPT_INPUT_SALT, compress=True)
    return {"sealed": sealed}


def kept_input(kept: Any, workflow_id: str) -> AgentInput:
    """The input `input_to_keep` sealed for `workflow_id`. Raises ValueError if it is not one, was
    changed, or was sealed for another run."""
    try:
        data = signing.loads(kept["sealed"], salt=KEPT_INPUT_SALT)
    except (TypeError, KeyError, signing.BadSignature) as err:
        raise ValueError("not a sealed run input, or changed since it was kept") from err
    if not isinstance(data, dict) or data.get("workflow_id") != workflow_id:
        raise ValueError("sealed for another run")
    try:
        agent_input: AgentInput = value_to_type(AgentInput, data["input"])
    except (KeyError, TypeError) as err:
        raise ValueError("not a run's input") from err
    return agent_input


async def run_start(workflow_id: str, agent_input: AgentInput) -> None:
    """Start the run, or find it started: the same workflow id is never started twice."""
    domain = domain_of(agent_input.spec.agent)
    client = await get_client(domain.namespace)
    # A resubmitted form: the run it started the first time is the answer.
    async with start_slot():
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await client.start_workflow(
                AGENT_WORKFLOW,
                agent_input,
                result_type=AgentResult,
                id=workflow_id,
                task_queue=domain.task_queue,
                # A form submitted again, even after its run closed, never starts a second run.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )

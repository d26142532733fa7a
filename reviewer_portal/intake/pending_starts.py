"""Runs whose start Temporal did not confirm in time (it was too busy, or its answer was lost):
their submissions keep the run's input, sealed with the portal's secret, bound to the workflow id
and dated, and the delivery loop (`manage.py deliver_decisions`) starts each, or finds it already
started (the workflow id is the form's, and is never started twice), then marks it started.

What the run trusts is not taken from the database: the submitter is the one sealed with the
input, who must still be the submission's user and active; the keys come from the portal's
settings now, and a run starts without carried state. A run found started is confirmed only if
it was started for that submitter. A submission Temporal refuses for reasons of its own (its
input, not the portal's credentials, namespace or keys, nor that it is busy or down) is given up
after MAX_ATTEMPTS passes, and any kept longer than KEPT_INPUT_MAX_AGE: its input is dropped and
its submitter reads why, while the others go on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import F
from django.utils import timezone
from temporalio.service import RPCError

from agents.framework.types import AgentInput
from reviewer_portal.history.models import Submission
from reviewer_portal.history.services import submission_given_up, submission_started
from reviewer_portal.intake.answers import REFUSED_FOR_ITSELF, UNCONFIRMED
from reviewer_portal.intake.kept_inputs import KeptTooLong, kept_input
from reviewer_portal.intake.services import START_LIFETIME_SECONDS, run_start, run_submitter_id
from reviewer_portal.temporal_client import (
    START_CONCURRENCY,
    START_TIMEOUT_SECONDS,
    TemporalUnreachable,
    run_on_client_loop,
)
from reviewer_portal.trust.keys import trusted_keys

log = logging.getLogger(__name__)

# A pass starts at most this many, oldest first; the next pass takes the rest.
BATCH = 100
# Passes a submission may be refused for itself (REFUSED_FOR_ITSELF; 30 s apart under `make dev`)
# before it is given up: the refusal may be a moment's (a limit the server lowered and raised again).
MAX_ATTEMPTS = 20
DAMAGED = "Its kept input was changed or damaged in the portal's database."
TOO_OLD = "It was kept too long without starting: send the form again."
ANOTHERS_RUN = "Its form's id belongs to a run someone else started."


class Refused(Exception):
    """This kept submission must not be started; the message says why, to its submitter."""


def pending_starts_run(*, older_than: timedelta | None = None) -> list[str]:
    """Start the runs of kept submissions older than `older_than`; the workflow ids now started
    (or found started). A kept submission is older than its own start's lifetime by then (the
    submitter's wait, START_LIFETIME_SECONDS more, and a few seconds): the loop does not start it
    while that start may still succeed with what was checked at submission.

    The oldest is started alone: if Temporal is down or too busy to answer it, the pass ends there.
    Otherwise the rest are started together, at most START_CONCURRENCY at a time (the client
    loop's queue), so that a backlog left by an outage drains at the rate Temporal takes starts."""
    if older_than is None:
        older_than = timedelta(seconds=settings.START_WAIT_SECONDS + START_LIFETIME_SECONDS + 5)
    due = Submission.objects.filter(
        started=False, start_error="", submitted_at__lt=timezone.now() - older_than
    ).select_related("submitted_by")
    ready: list[tuple[Submission, AgentInput]] = []
    for submission in due.order_by("submitted_at")[:BATCH]:
        try:
            ready.append((submission, _input_of(submission)))
        except Refused as err:
            _give_up(submission, str(err))
    started: list[str] = []
    for part in (ready[:1], ready[1:]):
        if not part:
            continue
        waited = START_TIMEOUT_SECONDS * -(-len(part) // START_CONCURRENCY)  # a deadline a wave
        try:
            outcomes = run_on_client_loop(_start_all(part, waited), timeout=waited + 5)
        except TemporalUnreachable:  # the client loop itself did not answer
            outcomes = [TimeoutError()] * len(part)
        settled = [_settled(*each, outcome, started) for each, outcome in zip(part, outcomes, strict=True)]
        if not all(settled):
            log.warning(
                "Kept submissions not started yet: %d of %d not answered, or refused for the portal's reasons",
                settled.count(False),
                len(part),
            )
            break
    return started


# What a start found, besides its run started now (then the run's chain, a run id): its run already
# started for its own submitter, or for another.
OWN, ANOTHERS = "own", "another's"


async def _start_all(part: list[tuple[Submission, AgentInput]], waited: float) -> list[str | BaseException]:
    """Each start's outcome, in order (the chain it started, OWN, ANOTHERS, or what it raised; a TimeoutError
    for one not done within `waited` seconds, queue included). One found started asks Temporal whose
    it is there and then, so that the settling after makes no call."""

    async def one(submission: Submission, agent_input: AgentInput) -> str:
        if chain := await run_start(submission.workflow_id, agent_input):
            return chain
        submitter = await run_submitter_id(submission.workflow_id, agent_input.spec.agent)
        return OWN if submitter == str(submission.submitted_by_id) else ANOTHERS

    tasks = [asyncio.ensure_future(one(*each)) for each in part]
    done, pending = await asyncio.wait(tasks, timeout=waited)
    for task in pending:
        task.cancel()  # a start already sent may still have reached Temporal: the next pass finds it
    return [
        (task.exception() or task.result()) if task in done and not task.cancelled() else TimeoutError()
        for task in tasks
    ]


def _settled(
    submission: Submission, agent_input: AgentInput, outcome: str | BaseException, started: list[str]
) -> bool:
    """Record one start's outcome; False if Temporal could not be reached, did not answer, or
    refused the portal itself (an expired key, a missing namespace): the pass ends, and the
    submission waits for the next."""
    workflow_id = submission.workflow_id
    if isinstance(outcome, RPCError) and outcome.status not in UNCONFIRMED:
        if outcome.status in REFUSED_FOR_ITSELF:
            _refused_once(submission, f"Temporal refused it: {outcome.message}")
            return True
        log.error("Kept submission %s not started: Temporal refused the portal: %s", workflow_id, outcome)
        return False  # it would refuse the others alike
    if isinstance(outcome, (RPCError, TemporalUnreachable, TimeoutError)) or not isinstance(
        outcome, (str, Exception)
    ):
        return False  # no answer: the next pass tries again
    if isinstance(outcome, Exception):  # whatever it is, the other submissions (and the decisions) go on
        log.error("Kept submission %s could not be started: %r", workflow_id, outcome)
        return True
    try:
        if outcome == ANOTHERS:
            _give_up(submission, ANOTHERS_RUN)  # the run found under its id is not its own
            return True
        submission_started(workflow_id=workflow_id, chain="" if outcome == OWN else outcome)
    except DatabaseError:
        log.exception("Kept submission %s: its start could not be recorded", workflow_id)
        return True  # found started and confirmed by the next pass
    started.append(workflow_id)
    return True


def _input_of(submission: Submission) -> AgentInput:
    """The kept input, sealed for this submission's user, with what the run trusts set afresh."""
    try:
        agent_input = kept_input(submission.start_input, submission.workflow_id)
    except KeptTooLong as err:
        raise Refused(TOO_OLD) from err
    except Exception as err:  # not a sealed input of this run, whatever else it holds
        log.error("Submission %s: its kept input is refused (%s)", submission.workflow_id, err)
        raise Refused(DAMAGED) from err
    if agent_input.submitted_by_id != str(submission.submitted_by_id):
        log.error(
            "Submission %s: its kept input is refused (sealed for another user)", submission.workflow_id
        )
        raise Refused(DAMAGED)
    user = submission.submitted_by
    if not user.is_active:
        raise Refused("The account that submitted it is no longer active.")
    return replace(
        agent_input,
        carry=None,
        submitted_by=user.get_username(),
        submitted_by_id=str(user.pk),
        trusted_keys=trusted_keys(),
    )


def _refused_once(submission: Submission, why: str) -> None:
    log.warning("Kept submission %s not started: %s", submission.workflow_id, why)
    Submission.objects.filter(pk=submission.pk).update(start_attempts=F("start_attempts") + 1)
    if submission.start_attempts + 1 >= MAX_ATTEMPTS:
        _give_up(submission, why)


def _give_up(submission: Submission, why: str) -> None:
    """Drop the kept input (the case's data goes with it) and keep why, for the submitter."""
    log.error("Kept submission %s given up: %s", submission.workflow_id, why)
    submission_given_up(workflow_id=submission.workflow_id, why=why)

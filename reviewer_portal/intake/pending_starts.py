"""Runs whose start Temporal did not confirm in time (it was too busy): their submissions keep the
run's input, sealed with the portal's secret and bound to the workflow id, and the delivery loop
(`manage.py deliver_decisions`) starts each, or finds it already started (the workflow id is the
form's, and is never started twice), then marks it started.

What the run trusts is not taken from the database: the submitter comes from the submission's
user (who must still be active), the keys from the portal's settings now, and a run starts
without carried state. A submission Temporal keeps refusing for reasons of its own (not that it
is busy or down) is given up after MAX_ATTEMPTS passes: its input is dropped and its submitter
reads why, while the others go on.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from django.db.models import F
from django.utils import timezone
from temporalio.service import RPCError, RPCStatusCode

from agents.framework.types import AgentInput
from reviewer_portal.history.models import Submission
from reviewer_portal.history.services import submission_started
from reviewer_portal.intake.services import START_LIFETIME_SECONDS, kept_input, run_start
from reviewer_portal.temporal_client import START_TIMEOUT_SECONDS, TemporalUnreachable, run_on_client_loop
from reviewer_portal.trust.keys import trusted_keys

log = logging.getLogger(__name__)

# A pass starts at most this many, oldest first; the next pass takes the rest.
BATCH = 100
# Passes a submission may be refused (30 s apart under `make dev`) before it is given up.
MAX_ATTEMPTS = 20
# Temporal is busy or down: every submission would fail alike, so the pass ends.
PASS_LATER = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
}


class Refused(Exception):
    """This kept submission must not be started; the message says why, to its submitter."""


def pending_starts_run(*, older_than: timedelta = timedelta(seconds=START_LIFETIME_SECONDS + 5)) -> list[str]:
    """Start the runs of kept submissions older than `older_than`; the workflow ids now started
    (or found started). A kept submission is older than its own start's lifetime by then: the loop
    never starts it while that start may still succeed with what was checked at submission."""
    due = Submission.objects.filter(
        started=False, start_error="", submitted_at__lt=timezone.now() - older_than
    ).select_related("submitted_by")
    started = []
    for submission in due.order_by("submitted_at")[:BATCH]:
        try:
            agent_input = _input_of(submission)
        except Refused as err:
            _give_up(submission, str(err))
            continue
        try:
            run_on_client_loop(run_start(submission.workflow_id, agent_input), timeout=START_TIMEOUT_SECONDS)
        except TemporalUnreachable:
            log.warning("Kept submissions not started yet: Temporal is unreachable or busy")
            break
        except RPCError as err:
            if err.status in PASS_LATER:
                log.warning("Kept submissions not started yet: %s", err)
                break
            _refused_once(submission, f"Temporal refused it: {err.message}")
            continue
        except Exception as err:  # whatever it is, the other submissions (and the decisions) go on
            log.exception("Kept submission %s could not be started", submission.workflow_id)
            _refused_once(submission, f"It could not be started ({type(err).__name__}).")
            continue
        submission_started(workflow_id=submission.workflow_id)
        started.append(submission.workflow_id)
    return started


def _input_of(submission: Submission) -> AgentInput:
    """The kept input, with what the run trusts set by the portal, not read from the row."""
    try:
        agent_input = kept_input(submission.start_input, submission.workflow_id)
    except (TypeError, ValueError) as err:
        log.error("Submission %s: its kept input is refused (%s)", submission.workflow_id, err)
        raise Refused("Its kept input was changed or damaged in the portal's database.") from err
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
    Submission.objects.filter(pk=submission.pk, started=False).update(start_input=None, start_error=why[:300])

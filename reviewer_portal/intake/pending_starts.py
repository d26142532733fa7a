"""Runs whose start Temporal did not confirm in time (it was too busy): their submissions keep the
run's input (sealed with the portal's secret: it holds the run's policy and trusted keys), and the
delivery loop (`manage.py deliver_decisions`) starts each, or finds it already
started (the workflow id is the form's, and is never started twice), then marks it started."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone
from temporalio.service import RPCError

from reviewer_portal.history.models import Submission
from reviewer_portal.history.services import submission_started
from reviewer_portal.intake.services import START_TIMEOUT_SECONDS, kept_input, run_start
from reviewer_portal.temporal_client import TemporalUnreachable, run_on_client_loop

log = logging.getLogger(__name__)

# A pass starts at most this many, oldest first; the next pass takes the rest.
BATCH = 100


def pending_starts_run(*, older_than: timedelta = timedelta(seconds=5)) -> list[str]:
    """Start the runs of kept submissions older than `older_than`; the workflow ids now started
    (or found started). Stops at the first Temporal error: the rest wait for the next pass."""
    due = Submission.objects.filter(started=False, submitted_at__lt=timezone.now() - older_than)
    started = []
    for submission in due.order_by("submitted_at")[:BATCH]:
        try:
            agent_input = kept_input(submission.start_input)
        except (TypeError, ValueError):
            log.error(
                "Submission %s keeps an input that is not a run's, or was changed; not started",
                submission.workflow_id,
            )
            continue
        try:
            run_on_client_loop(run_start(submission.workflow_id, agent_input), timeout=START_TIMEOUT_SECONDS)
        except (TemporalUnreachable, RPCError):
            log.warning("Kept submissions not started yet: Temporal is unreachable or busy", exc_info=True)
            break
        submission_started(workflow_id=submission.workflow_id)
        started.append(submission.workflow_id)
    return started

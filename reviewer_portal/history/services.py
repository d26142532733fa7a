"""Writes of the history app."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from reviewer_portal.history.models import Submission


def submission_record(
    *,
    workflow_id: str,
    agent: str,
    subject: str,
    submitted_by: AbstractBaseUser,
    start_input: dict[str, Any] | None = None,
) -> None:
    """Remember who started the run; a resubmitted form (the same workflow id) keeps the first.

    With `start_input` (the run's input as JSON) Temporal has not confirmed the start: the record
    keeps it for the delivery loop (reviewer_portal.intake.pending_starts). Without, the start is
    confirmed, also for a record kept so earlier."""
    submission, created = Submission.objects.get_or_create(
        workflow_id=workflow_id,
        defaults={
            "agent": agent,
            "subject": subject[:300],
            "submitted_by_id": submitted_by.pk,
            "started": start_input is None,
            "start_input": start_input,
        },
    )
    if not created and start_input is None and not submission.started:  # the same form sent again
        submission_started(workflow_id=workflow_id)


def submission_started(*, workflow_id: str) -> None:
    """Temporal confirmed the start of this submission's run: its kept input is not needed."""
    Submission.objects.filter(workflow_id=workflow_id, started=False).update(
        started=True, start_input=None, start_error=""
    )

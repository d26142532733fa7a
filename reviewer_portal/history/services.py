"""Writes of the history app."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from reviewer_portal.history.models import Submission


def submission_record(*, workflow_id: str, agent: str, subject: str, submitted_by: AbstractBaseUser) -> None:
    """Remember who started the run; a resubmitted form (the same workflow id) keeps the first."""
    Submission.objects.get_or_create(
        workflow_id=workflow_id,
        defaults={"agent": agent, "subject": subject[:300], "submitted_by_id": submitted_by.pk},
    )

"""Writes of the history app."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone

from reviewer_portal.history.models import Submission
from reviewer_portal.inbox.models import Gate


class SubmissionChanged(Exception):
    """The form's id was submitted before, by the same user, with other content: nothing is recorded."""


def submission_record(
    *,
    workflow_id: str,
    agent: str,
    subject: str,
    submitted_by: AbstractBaseUser,
    start_input: dict[str, Any],
    content_digest: str = "",
) -> tuple[Submission, bool]:
    """Keep the submission, with its run's input (sealed), before the run is started; the record
    and whether this call made it. A resubmitted form (the same workflow id) keeps the first
    record; while its run is not confirmed, the same user's sends keep their input afresh (also
    after the delivery loop gave it up), and the loop waits for their own start's lifetime.

    Raises SubmissionChanged for the same user's form sent again with another `content_digest`
    (Submission.holds_other_content): neither the record nor its kept input is replaced. Without
    a digest (a caller that keeps none) nothing is refused."""
    while True:
        submission, created = Submission.objects.get_or_create(
            workflow_id=workflow_id,
            defaults={
                "agent": agent,
                "subject": subject[:300],
                "submitted_by_id": submitted_by.pk,
                "started": False,
                "start_input": start_input,
                "content_digest": content_digest,
            },
        )
        if created or submission.submitted_by_id != submitted_by.pk:
            return submission, created
        if content_digest and submission.holds_other_content(content_digest):
            raise SubmissionChanged(workflow_id)
        if submission.started:
            return submission, created
        # Only over the content just read: a send with other content meanwhile is read again.
        kept_afresh = Submission.objects.filter(
            pk=submission.pk, started=False, content_digest=submission.content_digest
        ).update(
            subject=subject[:300],
            start_input=start_input,
            content_digest=content_digest,
            start_error="",
            start_attempts=0,
            submitted_at=timezone.now(),
        )
        if kept_afresh:
            return submission, created
        # Started, forgotten or changed meanwhile (by the same form's other send): read it again.


def submission_started(*, workflow_id: str, chain: str = "") -> None:
    """Temporal confirmed the start of this submission's run: its kept input is not needed. `chain`
    is the run's, when this start made it (not when it found the run started): kept even when
    another confirmation came first (the delivery loop, which found the run started and could not
    say whose chain it was), never over a chain already kept."""
    unconfirmed = Q(started=False) | Q(chain_id="") if chain else Q(started=False)
    Submission.objects.filter(unconfirmed, workflow_id=workflow_id).update(
        started=True, start_input=None, start_error="", **({"chain_id": chain} if chain else {})
    )


def workflow_chain(workflow_id: str, chain: str = "") -> tuple[str, str]:
    """The chain of runs the portal stands by under `workflow_id` (its gates', else the one its
    start recorded; `chain` if given, a gate's own) and the run of it that last published a gate
    there, a walk's start (reviewer_portal.inbox.run_chain); "" for what is not recorded."""
    gates = Gate.objects.filter(workflow_id=workflow_id).exclude(chain_id="")
    if chain:
        gates = gates.filter(chain_id=chain)
    row = gates.exclude(run_id="").order_by("-updated_at").values_list("chain_id", "run_id").first()
    if row is not None:
        return row
    return chain or gates.values_list("chain_id", flat=True).first() or started_chain(workflow_id), ""


def started_chain(workflow_id: str) -> str:
    """The chain of runs the portal started under `workflow_id`, "" if it did not record one."""
    chains = Submission.objects.filter(workflow_id=workflow_id).values_list("chain_id", flat=True)
    return chains.first() or ""


def submission_given_up(*, workflow_id: str, why: str) -> None:
    """A kept submission will not be started: its input (the case's data) goes, and why stays, for
    its submitter."""
    Submission.objects.filter(workflow_id=workflow_id, started=False).update(
        start_input=None, start_error=why[:300]
    )

"""Every gate's run is someone's submission: a run started outside the intake pages (the demo
command, another service, a run from before the portal kept the record) is recorded when its
first gate reaches the projection, so the submitter's history and own-case checks find it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save
from django.dispatch import receiver

from reviewer_portal.history.models import Submission
from reviewer_portal.inbox.models import Gate


@receiver(post_save, sender=Gate, dispatch_uid="history.submission_of_gate")
def submission_of_gate(sender: type[Gate], instance: Gate, created: bool, **kwargs: Any) -> None:
    if not created or Submission.objects.filter(workflow_id=instance.workflow_id).exists():
        return
    submitter = _submitter_of(instance)
    if submitter is None:
        return  # started by the system (or a user since deleted), not by a person here
    Submission.objects.create(
        workflow_id=instance.workflow_id,
        agent=instance.agent,
        subject=instance.subject[:300],
        submitted_by_id=submitter,
        submitted_at=instance.opened_at,
    )


def _submitter_of(gate: Gate) -> int | None:
    """By immutable id; by name only on a run started before ids were recorded (as
    reviewer_portal.inbox.permissions.is_person reads it)."""
    users = get_user_model().objects
    if gate.submitted_by_id:
        found = users.filter(pk=gate.submitted_by_id) if gate.submitted_by_id.isdigit() else users.none()
    else:
        found = users.filter(username=gate.submitted_by) if gate.submitted_by else users.none()
    return found.values_list("pk", flat=True).first()

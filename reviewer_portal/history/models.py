"""The portal's record of who started which agent run, so a submitter can follow a run from the
moment it starts, before (and after) it reaches a gate; Temporal's history is not searched for it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Submission(models.Model):
    workflow_id = models.CharField(max_length=200, unique=True)
    agent = models.CharField(max_length=50)
    subject = models.CharField(max_length=300)
    # By immutable id: a renamed user keeps their submissions.
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # When the run started; for a run first seen through its gate, when that gate opened.
    submitted_at = models.DateTimeField(default=timezone.now)
    # False while Temporal has not confirmed the start (it was too busy to answer in time): the
    # run's input, sealed, is kept in `start_input` until the delivery loop starts it, or finds it
    # started (reviewer_portal.intake.pending_starts). `start_error` says why the loop gave up (the
    # input is then dropped); `start_attempts` counts the passes Temporal refused it.
    started = models.BooleanField(default=True)
    start_input = models.JSONField(null=True, blank=True)
    start_attempts = models.PositiveSmallIntegerField(default=0)
    start_error = models.CharField(max_length=300, blank=True)
    # The sha256 of what the form submitted (content_digest_of): the same form sent again must
    # send the same, and is refused otherwise. Empty on a record made before digests were kept, or
    # of a run started outside the intake pages: those refuse no resend, as before.
    content_digest = models.CharField(max_length=64, blank=True)
    # The chain of runs the portal started for it (the run's id, which continue-as-new and reset
    # keep), from the start's own answer: a run started again under the id, before its gate opened
    # or without one, is not this submission's (reviewer_portal.inbox.run_chain). Empty for a run
    # found already started, or recorded before chains were.
    chain_id = models.CharField(max_length=100, blank=True, default="", db_default="")

    class Meta:
        indexes = [models.Index(fields=["submitted_by", "submitted_at"], name="submission_by_user")]

    def __str__(self) -> str:
        return f"{self.subject} ({self.workflow_id})"

    def holds_other_content(self, content_digest: str) -> bool:
        """Whether this submission holds other content than `content_digest`, which its form sent
        again may not replace. One given up holds nothing (nothing was started, its input is gone):
        its form sent again, corrected, is a new try."""
        given_up = not self.started and bool(self.start_error)
        return bool(self.content_digest) and self.content_digest != content_digest and not given_up

"""Bearer tokens for the codec endpoint (the CLI's `--codec-auth`), and the log of its use."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class CodecToken(models.Model):
    """A revocable, expiring token that lets a command line decode as its user. Only the sha256
    of the secret is kept; the secret is shown once, when issued."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="codec_tokens")
    secret_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"codec token {self.pk} of {self.user_id}"

    @property
    def usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class CodecAccess(models.Model):
    """One request to the codec endpoint: who, how, which namespace and run, allowed or not."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    via = models.CharField(max_length=20)  # session | token | none
    operation = models.CharField(max_length=10)  # decode | encode
    namespace = models.CharField(max_length=200)
    workflow_id = models.CharField(max_length=200, blank=True)
    payloads = models.PositiveIntegerField(default=0)
    # Sent by a reviewer but not in the named run's history: answered still encrypted.
    foreign_payloads = models.PositiveIntegerField(default=0)
    allowed = models.BooleanField()

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return (
            f"{self.operation} by {self.user_id or 'anonymous'} ({self.via}) at {self.at:%Y-%m-%d %H:%M:%S}"
        )

"""In-app notifications: one row per recipient and event, read in the portal's bell and list."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Notification(models.Model):
    class Kind(models.TextChoices):
        OPENED = "opened", "High priority"
        SLA_WARNING = "sla_warning", "SLA warning"
        ESCALATED = "escalated", "Escalated"
        ASSIGNED = "assigned", "Assigned to you"
        DECIDED = "decided", "Decision on your submission"

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    gate_id = models.CharField(max_length=200)
    subject = models.CharField(max_length=300)
    link = models.CharField(max_length=500)
    text = models.TextField()
    # Names the event (gate, kind, version or decision): a redelivered event adds no second row.
    event_key = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "event_key"], name="notice_once_per_event"),
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at", "-id"], name="notice_newest"),
            # The bell's count reads only this (small) partial index.
            models.Index(
                fields=["recipient"], condition=models.Q(read_at__isnull=True), name="notice_unread"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.gate_id} to {self.recipient_id}"

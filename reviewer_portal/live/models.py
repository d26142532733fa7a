"""The database channel layer's outbox: one row per group_send, read by every portal process."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class LiveMessage(models.Model):
    """A message sent to a channel-layer group; rows older than the layer's expiry are pruned."""

    group = models.CharField(max_length=100)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.group} #{self.pk}"

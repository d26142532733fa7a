"""A reviewer's absence, as a supervisor marked it: while it lasts their claims are released and
nobody is offered them as an assignee. Rows are never deleted: they are the record of who marked
whom absent (and back present), and when."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Absence(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="absences")
    since = models.DateTimeField()
    # None: until someone marks them back present (which sets it to that moment).
    until = models.DateTimeField(null=True, blank=True)
    marked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=500, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-since"]
        indexes = [models.Index(fields=["user", "until"], name="absence_user_until")]

    def __str__(self) -> str:
        return f"{self.user_id} absent since {self.since:%Y-%m-%d %H:%M}"

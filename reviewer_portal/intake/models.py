"""The portal's own record of what was uploaded for review, so the uploader can follow a review
(and see why a file could not be read) without reading Temporal's history."""

from __future__ import annotations

from django.conf import settings
from django.db import models

WORKFLOW_PREFIX = "regulatory-"


class DocumentUpload(models.Model):
    workflow_id = models.CharField(max_length=200, unique=True)
    title = models.CharField(max_length=200)
    filename = models.CharField(max_length=255)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return f"{self.title} ({self.workflow_id})"

    @property
    def submission_id(self) -> str:
        return self.workflow_id.removeprefix(WORKFLOW_PREFIX)

"""The archive: one record per closed agent run (its whole continue-as-new chain) or purge, each
chained by hash to the record before it in its namespace (reviewer_portal/archive/chain.py)."""

from __future__ import annotations

from django.db import models


class ArchiveRecord(models.Model):
    class Kind(models.TextChoices):
        RUN = "run"
        PURGE = "purge"

    namespace = models.CharField(max_length=200)
    seq = models.PositiveBigIntegerField()  # 1, 2, ... within the namespace
    kind = models.CharField(max_length=10, choices=Kind.choices)
    workflow_id = models.CharField(max_length=200, blank=True, db_index=True)
    run_id = models.CharField(max_length=64, blank=True)  # the chain's last run
    # Index columns (the sealed content is the record; these let pages list and filter).
    agent = models.CharField(max_length=100, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=30, blank=True)
    # The chain of runs the record holds (their first run's id, Gate.chain_id): a gate's trail is
    # found by it, not among whatever else ran under the workflow id since. An index like the
    # others: the record chosen by it is checked against its content (archive.export). Empty on
    # records archived before it was kept.
    chain_id = models.CharField(max_length=100, blank=True, default="", db_default="", db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    archived_at = models.DateTimeField()
    # The chain: record_hash covers every field above that verify.py checks, and content_sha256.
    prev_hash = models.CharField(max_length=64)
    record_hash = models.CharField(max_length=64, unique=True)
    content_sha256 = models.CharField(max_length=64)
    # The content, canonical JSON sealed with the namespace's payload key; emptied by a purge.
    sealed = models.BinaryField(null=True, blank=True)
    size = models.PositiveIntegerField(default=0)
    purged_at = models.DateTimeField(null=True, blank=True)
    # The portal's signature of the chain up to this record, made when it was appended (so nobody
    # without the portal's key can append, rewrite or re-sign the chain in the database).
    signature = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "seq"], name="archive_one_record_per_position"),
            models.UniqueConstraint(
                fields=["namespace", "workflow_id", "run_id"],
                condition=models.Q(kind="run"),
                name="archive_each_run_once",
            ),
        ]
        ordering = ["namespace", "seq"]

    def __str__(self) -> str:
        return f"{self.namespace} #{self.seq} {self.kind} {self.workflow_id}"


class ChainHead(models.Model):
    """The newest record of a namespace's chain; locked while a record is appended, so appends
    of one namespace follow one another."""

    namespace = models.CharField(max_length=200, primary_key=True)
    seq = models.PositiveBigIntegerField(default=0)
    record_hash = models.CharField(max_length=64)
    moved_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.namespace} #{self.seq} {self.record_hash[:12]}"


class ArchiveWatermark(models.Model):
    """Runs closed before this were all archived (with an overlap for visibility's lag)."""

    namespace = models.CharField(max_length=200, primary_key=True)
    closed_before = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.namespace}: archived up to {self.closed_before:%Y-%m-%d %H:%M}"

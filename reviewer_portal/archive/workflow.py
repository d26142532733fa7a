"""The archiving workflow a Temporal Schedule starts (reviewer_portal/archive/schedule.py): it
archives what is due in batches, each an activity that heartbeats and resumes where it stopped,
continues-as-new when its history grows long, then purges records past the archive's retention.

Workflow code only: no Django, no I/O; the activities are in activities.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

ARCHIVE_WORKFLOW = "AuditArchive"
ARCHIVE_DUE_ACTIVITY = "archive.archive_due"
PURGE_ACTIVITY = "archive.purge_expired"
BATCH_TIMEOUT = timedelta(minutes=30)
HEARTBEAT_TIMEOUT = timedelta(minutes=10)
# A pass that keeps failing gives up, so the Schedule's next pass (skipped while this one runs)
# starts afresh; a run that cannot be archived is logged and stays due, never blocking the rest.
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=2), maximum_attempts=5
)


@dataclass
class ArchiveRequest:
    batch: int = 100
    archived_before: int = 0  # by earlier runs of this chain (continue-as-new)
    failed_before: int = 0


@dataclass
class ArchiveBatch:
    archived: int
    failed: int
    more: bool


@dataclass
class ArchiveSummary:
    archived: int
    failed: int
    purged: int


@workflow.defn(name=ARCHIVE_WORKFLOW)
class AuditArchiveWorkflow:
    @workflow.run
    async def run(self, request: ArchiveRequest) -> ArchiveSummary:
        archived, failed = request.archived_before, request.failed_before
        while True:
            batch = await workflow.execute_activity(
                ARCHIVE_DUE_ACTIVITY,
                request.batch,
                result_type=ArchiveBatch,
                start_to_close_timeout=BATCH_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=RETRY,
            )
            archived, failed = archived + batch.archived, failed + batch.failed
            if not batch.more:
                break
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(ArchiveRequest(request.batch, archived, failed))
        purged = await workflow.execute_activity(
            PURGE_ACTIVITY, result_type=int, start_to_close_timeout=BATCH_TIMEOUT, retry_policy=RETRY
        )
        return ArchiveSummary(archived=archived, failed=failed, purged=purged)

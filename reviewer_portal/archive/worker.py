"""The worker of the archiving workflow: the default namespace, ARCHIVE_TASK_QUEUE. Its client
holds every namespace's keys (the portal's), since it reads and decodes every domain's runs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from temporalio.client import Client
from temporalio.worker import Worker

from agents.framework.sandbox import workflow_runner
from reviewer_portal.archive.activities import ARCHIVE_ACTIVITIES
from reviewer_portal.archive.workflow import AuditArchiveWorkflow


def archive_worker(client: Client, *, executor: ThreadPoolExecutor, task_queue: str = "") -> Worker:
    return Worker(
        client,
        task_queue=task_queue or settings.ARCHIVE_TASK_QUEUE,
        workflows=[AuditArchiveWorkflow],
        # Strict, always (one small workflow), with what every worker passes through.
        workflow_runner=workflow_runner("strict", [AuditArchiveWorkflow]),
        activities=ARCHIVE_ACTIVITIES,
        activity_executor=executor,
    )

"""The archiving workflow's activities: sync, on the worker's thread pool (they use the ORM)."""

from __future__ import annotations

from django.db import close_old_connections
from temporalio import activity

from reviewer_portal.archive import archiver
from reviewer_portal.archive.workflow import ARCHIVE_DUE_ACTIVITY, PURGE_ACTIVITY, ArchiveBatch


@activity.defn(name=ARCHIVE_DUE_ACTIVITY)
def archive_due(limit: int) -> ArchiveBatch:
    close_old_connections()
    try:
        return archiver.archive_due(limit=limit, heartbeat=activity.heartbeat)
    finally:
        close_old_connections()


@activity.defn(name=PURGE_ACTIVITY)
def purge_expired() -> int:
    close_old_connections()
    try:
        return archiver.purge_expired()
    finally:
        close_old_connections()


ARCHIVE_ACTIVITIES = [archive_due, purge_expired]

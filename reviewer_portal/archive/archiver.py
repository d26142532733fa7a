"""Archiving closed agent runs before Temporal's retention deletes them, and purging records past
the archive's own retention.

A run is due once its workflow has closed (its last run completed, failed, was terminated or
timed out; a run that continued-as-new is archived with the rest of its chain). Each is archived
in its own transaction and at most once ((namespace, workflow id, last run id) is unique), so an
archiving pass that stops halfway resumes where it stopped. Per namespace, a watermark remembers
up to which close time everything is archived; each pass lists what closed since (less
ARCHIVE_VISIBILITY_LAG_SECONDS, for visibility's lag).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from temporalio import workflow
from temporalio.client import Client, WorkflowExecution

from agents.framework.contract import AGENT_WORKFLOW
from agents.framework.registry import AGENTS
from agents.framework.result_store import forget_chain
from reviewer_portal.archive import chain
from reviewer_portal.archive.integrity import verify_stored
from reviewer_portal.archive.models import ArchiveRecord, ArchiveWatermark
from reviewer_portal.archive.workflow import ArchiveBatch
from reviewer_portal.audit.timeline import fetch_histories
from reviewer_portal.audit.trail import as_json, trail_of
from reviewer_portal.domains import namespaces
from reviewer_portal.temporal_client import get_client

log = logging.getLogger(__name__)
CLOSED = 'ExecutionStatus != "Running" AND ExecutionStatus != "ContinuedAsNew"'
RUN_FORMAT = "reviewer-portal/archived-run/v1"
PURGE_FORMAT = "reviewer-portal/archive-purge/v1"


class ArchiveConflict(Exception):
    """The run could not be appended this time; it stays due."""


@dataclass(frozen=True)
class Due:
    namespace: str
    workflow_id: str
    run_id: str
    closed_at: datetime


def archive_due(*, limit: int = 100, heartbeat: Callable[[], None] = lambda: None) -> ArchiveBatch:
    """Archive up to `limit` runs that are due, oldest first, in every namespace. `more` says
    whether some were left for another call."""
    archived = failed = 0
    for namespace in namespaces():
        due = due_runs(namespace)
        oldest_failure: datetime | None = None
        for run in due:
            if archived >= limit:
                return ArchiveBatch(archived=archived, failed=failed, more=True)
            heartbeat()
            try:
                if archive_run(run) is not None:  # None: a concurrent pass archived it first
                    archived += 1
            except Exception:
                failed += 1
                oldest_failure = oldest_failure or run.closed_at
                log.exception("could not archive %s in %s; it stays due", run.workflow_id, namespace)
        if due:
            _move_watermark(namespace, oldest_failure or max(run.closed_at for run in due))
    return ArchiveBatch(archived=archived, failed=failed, more=False)


def due_runs(namespace: str) -> list[Due]:
    """The namespace's closed agent runs not archived yet, oldest first."""
    watermark = ArchiveWatermark.objects.filter(namespace=namespace).first()
    query = closed_agent_runs()
    if watermark is not None:
        lag = timedelta(seconds=settings.ARCHIVE_VISIBILITY_LAG_SECONDS)
        since = (watermark.closed_before - lag).astimezone(UTC)
        query += f' AND CloseTime > "{since.strftime("%Y-%m-%dT%H:%M:%SZ")}"'
    listed = async_to_sync(_list)(namespace, query)
    archived = _archived_run_ids(namespace, [execution.run_id for execution in listed])
    due = [
        Due(namespace, execution.id, execution.run_id, execution.close_time or timezone.now())
        for execution in listed
        if execution.run_id not in archived
    ]
    return sorted(due, key=lambda run: run.closed_at)


def closed_agent_runs() -> str:
    """The visibility query for closed runs of every agent's workflow: the shared one and those
    agents bring (a support conversation's transcript must outlive Temporal's retention too)."""
    types = [AGENT_WORKFLOW, *sorted(agent_workflow_types() - {AGENT_WORKFLOW})]
    either = " OR ".join(f'WorkflowType = "{name}"' for name in types)
    return f"({either}) AND {CLOSED}"


def agent_workflow_types() -> set[str]:
    # temporalio has no public accessor for a workflow class's registered name.
    return {
        workflow._Definition.must_from_class(cls).name for spec in AGENTS.values() for cls in spec.workflows
    }


def archive_run(run: Due) -> ArchiveRecord | None:
    """Archive one closed run with its whole chain and the portal's records of it; None if it was
    archived already (by a concurrent pass)."""
    client = async_to_sync(get_client)(run.namespace)
    histories, status = async_to_sync(fetch_histories)(client, run.workflow_id, run.run_id)
    trail = trail_of(run.workflow_id, histories, status, client.data_converter)
    started = next((e.data.get("input") for e in trail.entries if e.kind == "run" and "input" in e.data), {})
    content = {
        "format": RUN_FORMAT,
        "namespace": run.namespace,
        "workflow_id": run.workflow_id,
        "histories": [{"run_id": h.run_id, "history": h.to_json_dict()} for h in histories],
        "trail": as_json(trail),
    }
    try:
        with transaction.atomic():
            record = chain.append(
                namespace=run.namespace,
                kind=ArchiveRecord.Kind.RUN,
                content=content,
                workflow_id=run.workflow_id,
                run_id=run.run_id,
                closed_at=run.closed_at,
                agent=str((started or {}).get("spec", {}).get("agent", ""))[:100],
                subject=str((started or {}).get("subject", ""))[:300],
                status=status[:30],
                chain_id=histories[-1]
                .events[0]
                .workflow_execution_started_event_attributes.first_execution_run_id,
            )
    except IntegrityError:
        done = ArchiveRecord.objects.filter(
            namespace=run.namespace,
            kind=ArchiveRecord.Kind.RUN,
            workflow_id=run.workflow_id,
            run_id=run.run_id,
        )
        if done.exists():
            return None
        # Another append took the same position (SQLite does not lock the head): try again later.
        raise ArchiveConflict(f"{run.workflow_id} lost a race for its chain position") from None
    # The histories hold every result the chain sealed beside them: the chunks can go.
    try:
        forget_chain(run.namespace, run.workflow_id)
    except OSError:
        log.warning(
            "sealed results of %s not deleted; the archive holds them", run.workflow_id, exc_info=True
        )
    return record


def purge_expired(*, now: datetime | None = None) -> int:
    """Empty the content of run records closed longer ago than ARCHIVE_RETENTION_DAYS; each purge
    is itself a record of the chain, naming the records it emptied. Returns how many it emptied."""
    now = now or timezone.now()
    for namespace in sorted(set(ArchiveRecord.objects.values_list("namespace", flat=True))):
        verify_stored(namespace)  # RecordAltered: nothing is purged from a chain someone rewrote
    cutoff = now - timedelta(days=settings.ARCHIVE_RETENTION_DAYS)
    expired = ArchiveRecord.objects.filter(kind=ArchiveRecord.Kind.RUN, purged_at=None, closed_at__lt=cutoff)
    purged = 0
    for namespace in sorted(set(expired.values_list("namespace", flat=True))):
        with transaction.atomic():
            records = list(expired.filter(namespace=namespace).select_for_update().order_by("seq"))
            content = {
                "format": PURGE_FORMAT,
                "retention_days": settings.ARCHIVE_RETENTION_DAYS,
                "closed_before": cutoff.isoformat(timespec="microseconds"),
                "purged": [
                    {
                        "seq": r.seq,
                        "workflow_id": r.workflow_id,
                        "run_id": r.run_id,
                        "record_hash": r.record_hash,
                    }
                    for r in records
                ],
            }
            chain.append(namespace=namespace, kind=ArchiveRecord.Kind.PURGE, content=content)
            ArchiveRecord.objects.filter(pk__in=[r.pk for r in records]).update(
                sealed=None, size=0, purged_at=now
            )
        purged += len(records)
        log.info("archive purge in %s: %d records closed before %s emptied", namespace, len(records), cutoff)
    return purged


async def _list(namespace: str, query: str) -> list[WorkflowExecution]:
    client: Client = await get_client(namespace)
    return [execution async for execution in client.list_workflows(query)]


def _archived_run_ids(namespace: str, run_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(run_ids), 500):
        chunk = run_ids[start : start + 500]
        found |= set(
            ArchiveRecord.objects.filter(
                namespace=namespace, kind=ArchiveRecord.Kind.RUN, run_id__in=chunk
            ).values_list("run_id", flat=True)
        )
    return found


def _move_watermark(namespace: str, closed_before: datetime) -> None:
    ArchiveWatermark.objects.update_or_create(namespace=namespace, defaults={"closed_before": closed_before})

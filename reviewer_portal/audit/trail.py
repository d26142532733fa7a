"""A run's audit trail, one shape whatever holds it: Temporal while it keeps the run's history,
the archive afterwards. Both paths give the same RunAudit, normalised the same way (text made
storable, values as JSON gives them back), so a page or an export reads alike before and after
Temporal's retention deletes the run."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from reviewer_portal.archive.chain import RecordAltered, content_of
from reviewer_portal.archive.export import latest_record
from reviewer_portal.archive.integrity import purge_recorded, verify_placed
from reviewer_portal.archive.models import ArchiveRecord
from reviewer_portal.audit.portal_record import unapplied_actions
from reviewer_portal.audit.timeline import RunAudit, TimelineEntry, fetch_histories, read_timeline
from reviewer_portal.history.services import workflow_chain
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.run_chain import run_of_chain
from reviewer_portal.request_threads import async_to_sync_aside
from reviewer_portal.run_location import client_for_run
from reviewer_portal.safe_text import storable
from reviewer_portal.temporal_client import TemporalUnreachable

# Finding the run's own chain under its workflow id: a few calls, or one per continued run.
LOOKUP_SECONDS = 20


class HistoryUnavailable(Exception):
    """Temporal cannot be read right now; the message says so in plain words."""


class TrailMissing(HistoryUnavailable):
    """No trail stands behind a run the portal knows: Temporal no longer has it and its archive
    record is missing, altered or emptied without a recorded purge. Not a passing outage."""


class NotInTemporal(Exception):
    """Temporal does not know the run (never did, or its retention has deleted it)."""


class Purged(Exception):
    """The run's archived record was emptied under the archive's retention."""


@dataclass(frozen=True)
class FoundTrail:
    audit: RunAudit
    record: ArchiveRecord | None  # its archive record, once archived
    from_archive: bool = False  # Temporal no longer has the run


def find_trail(workflow_id: str, chain: str = "") -> FoundTrail:
    """The run's trail from Temporal while it has the run, else from its archive record once that
    record checks out in the chain; Http404 if neither knows it (and the portal never saw it). Of
    `chain`'s runs (a gate's own), else of the chain the run's gates or start name."""
    chain, known = workflow_chain(workflow_id, chain)
    record = latest_record(workflow_id, chain)
    try:
        return FoundTrail(live_trail(workflow_id, chain=chain, known=known), record)
    except NotInTemporal:
        if record is None and Gate.objects.filter(workflow_id=workflow_id).exists():
            raise TrailMissing(
                "Temporal no longer has this run, and the archive holds no record of it: it was not "
                "archived in time, or its record was removed from the database."
            ) from None
        if record is None:
            raise Http404("No such agent run, in Temporal or in the archive.") from None
    try:
        content = content_of(record)
        # As an export checks it: in its place in the chain, signed by the portal. A record
        # written into the database with its hashes computed, but no key, is not served.
        verify_placed(record)
    except RecordAltered as err:
        raise TrailMissing(f"Temporal no longer has this run, and {err}") from None
    if content is None and not purge_recorded(record):
        raise TrailMissing(
            f"Temporal no longer has this run, and its archive record (#{record.seq} of {record.namespace}) "
            "was emptied without a recorded purge: it was altered in the database."
        )
    if content is None:
        raise Purged(
            f"This run's archived record (#{record.seq} of {record.namespace}) was purged on "
            f"{record.purged_at:%Y-%m-%d} under the archive's retention; its hash stays in the chain."
        )
    return FoundTrail(from_json(content["trail"]), record, from_archive=True)


def live_trail(
    workflow_id: str, *, client: Client | None = None, run_id: str = "", chain: str = "", known: str = ""
) -> RunAudit:
    """The trail from Temporal, with the reviewer actions only the portal recorded beside it: of
    `chain`'s runs if given (walked to from `known`, one of them), whatever has run under the id
    since."""

    async def load() -> tuple[list[WorkflowHistory], str, DataConverter]:
        reading = client or await client_for_run(workflow_id)
        async with asyncio.timeout(LOOKUP_SECONDS):  # however many runs others started under the id
            own = run_id or await _own_run(reading, workflow_id, chain, known)
        histories, status = await fetch_histories(reading, workflow_id, own)
        return histories, status, reading.data_converter

    try:
        histories, status, converter = async_to_sync_aside(load)()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NotInTemporal(workflow_id) from err
        raise HistoryUnavailable(f"Temporal did not answer ({err.status.name}); try again shortly.") from err
    except (TemporalUnreachable, TimeoutError) as err:
        raise HistoryUnavailable("Temporal is not reachable right now; try again shortly.") from err
    return trail_of(workflow_id, histories, status, converter)


async def _own_run(client: Client, workflow_id: str, chain: str, known: str) -> str:
    """The latest run of `chain` ("": the latest run under the id). Raises NotInTemporal if another
    chain's run is the latest there and the chain's own are gone (deleted by retention, say)."""
    if not chain:
        return ""
    own = await run_of_chain(client, workflow_id, chain, known=known)
    if own is None:
        raise NotInTemporal(workflow_id)
    return own


def trail_of(
    workflow_id: str, histories: list[WorkflowHistory], status: str, converter: DataConverter
) -> RunAudit:
    """The trail of these histories (a chain, oldest first), with the portal's own records."""
    entries = async_to_sync(read_timeline)(converter, histories)
    entries = sorted([*entries, *unapplied_actions(workflow_id=workflow_id)], key=lambda e: e.time)
    runs = [history.run_id for history in histories]
    return normalised(RunAudit(workflow_id, runs[-1], status, entries, runs))


def normalised(audit: RunAudit) -> RunAudit:
    """Text storable, values as JSON round-trips them, times as the export writes them."""
    return from_json(as_json(audit))


def as_json(audit: RunAudit) -> dict[str, Any]:
    readable = [replace(e, title=storable(e.title), data=storable(e.data)) for e in audit.entries]
    return json.loads(json.dumps(asdict(replace(audit, entries=readable)), cls=DjangoJSONEncoder))


def from_json(data: dict[str, Any]) -> RunAudit:
    entries = [
        TimelineEntry(
            time=datetime.fromisoformat(e["time"]), kind=e["kind"], title=e["title"], data=e["data"]
        )
        for e in data["entries"]
    ]
    return RunAudit(data["workflow_id"], data["run_id"], data["status"], entries, list(data["runs"]))

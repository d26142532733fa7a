"""The payloads of one run's history, so that a reviewer who names a run of their gate decodes
that run's payloads and no other: the codec protocol carries payloads, not where they came from,
so the endpoint checks each one against the run's history (by the sha256 of its bytes).

Reading a history is up to 51,200 events on a request's thread, so a run is read at most once per
CACHE_SECONDS, however many payloads it is asked about that it does not hold (a reviewer may send
made-up ones in a loop); a run that has ended is read once and kept CLOSED_RUN_SECONDS."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.core.cache import cache
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.service import RPCError, RPCStatusCode

from reviewer_portal.request_threads import async_to_sync_aside
from reviewer_portal.temporal_client import get_client

# A page of the CLI's `workflow show` sends several requests in a row: they share one read. A
# payload the run recorded since is decoded once the period is over.
CACHE_SECONDS = 30
# An ended run's history never changes. Not for ever: an operator may reset it into a new run.
CLOSED_RUN_SECONDS = 60 * 60
PAYLOAD = Payload.DESCRIPTOR.full_name
# The events that end a run; one with a run after it under the same id (a retry, the next cron
# run) names it in `new_execution_run_id`.
ENDS = {
    "workflow_execution_completed_event_attributes",
    "workflow_execution_failed_event_attributes",
    "workflow_execution_timed_out_event_attributes",
    "workflow_execution_canceled_event_attributes",
    "workflow_execution_terminated_event_attributes",
}


@dataclass(frozen=True)
class RunPayloads:
    digests: frozenset[str]
    closed: bool  # the run has ended, and no other run follows it under its id


def digest(payload: Payload) -> str:
    return hashlib.sha256(payload.data).hexdigest()


def of_run(namespace: str, workflow_id: str, wanted: Iterable[Payload]) -> frozenset[str]:
    """The digests of the run's payloads, read again when a wanted one is missing from the
    cached set (the run may have moved on since), at most once per CACHE_SECONDS. A run Temporal
    does not know has none."""
    key = f"codec:run-payloads:{namespace}:{workflow_id}"
    known: RunPayloads | None = cache.get(key)
    if known is None or _read_again(key, known, wanted):
        cache.set(f"{key}:read", True, CACHE_SECONDS)
        known = async_to_sync_aside(_fetch)(namespace, workflow_id)
        cache.set(key, known, CLOSED_RUN_SECONDS if known.closed else CACHE_SECONDS)
    return known.digests


def _read_again(key: str, known: RunPayloads, wanted: Iterable[Payload]) -> bool:
    if known.closed or {digest(p) for p in wanted} <= known.digests:
        return False
    return cache.add(f"{key}:read", True, CACHE_SECONDS)  # False: read within the period already


async def _fetch(namespace: str, workflow_id: str) -> RunPayloads:
    client = await get_client(namespace)
    found: set[str] = set()
    last: HistoryEvent | None = None
    try:
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
            found.update(payload_digests(event))
            last = event
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    return RunPayloads(frozenset(found), closed=last is not None and _ends_for_good(last))


def _ends_for_good(event: HistoryEvent) -> bool:
    attributes = event.WhichOneof("attributes")
    return attributes in ENDS and not getattr(getattr(event, attributes), "new_execution_run_id", "")


def payload_digests(message: Message) -> Iterator[str]:
    """Every Payload anywhere in a message (inputs, results, failures' details, memo, headers)."""
    if message.DESCRIPTOR.full_name == PAYLOAD:
        yield digest(message)  # type: ignore[arg-type]
        return
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if field.message_type.GetOptions().map_entry:
            items = value.values()
        elif field.is_repeated:
            items = value
        else:
            items = [value]
        for item in items:
            if isinstance(item, Message):
                yield from payload_digests(item)

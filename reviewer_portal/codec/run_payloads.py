"""The payloads of one run's history, so that a reviewer who names a run of their gate decodes
that run's payloads and no other: the codec protocol carries payloads, not where they came from,
so the endpoint checks each one against the run's history (by the sha256 of its bytes)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

from django.core.cache import cache
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.service import RPCError, RPCStatusCode

from reviewer_portal.request_threads import async_to_sync_aside
from reviewer_portal.temporal_client import get_client

# A page of the CLI's `workflow show` sends several requests in a row: fetch the history once.
CACHE_SECONDS = 30
PAYLOAD = Payload.DESCRIPTOR.full_name


def digest(payload: Payload) -> str:
    return hashlib.sha256(payload.data).hexdigest()


def of_run(namespace: str, workflow_id: str, wanted: Iterable[Payload]) -> set[str]:
    """The digests of the run's payloads, fetched again when a wanted one is missing from the
    cached set (the run has moved on since). A run Temporal does not know has none."""
    key = f"codec:run-payloads:{namespace}:{workflow_id}"
    known: set[str] | None = cache.get(key)
    if known is None or not {digest(p) for p in wanted} <= known:
        known = async_to_sync_aside(_fetch)(namespace, workflow_id)
        cache.set(key, known, CACHE_SECONDS)
    return known


async def _fetch(namespace: str, workflow_id: str) -> set[str]:
    client = await get_client(namespace)
    found: set[str] = set()
    try:
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
            found.update(payload_digests(event))
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    return found


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

"""The activities the worker sidecar runs for the portal: projection writes and notices."""

from __future__ import annotations

import asyncio
import contextvars
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from django.conf import settings
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.framework.contract import PUBLISH_LOCAL_ACTIVITY
from agents.framework.gate_changes import GatePublication, LocalPublication
from reviewer_portal.inbox.notifications import notify_reviewers
from reviewer_portal.inbox.openings import publish_opening
from reviewer_portal.inbox.publishing import publish_gate, publish_gate_change

# Openings are written on threads of their own, not on the worker's shared activity threads: queued
# there behind a slow mailer or the archive, the wait counted against the local publish's few
# seconds and sent openings to the task path. At its limit the SDK cancels the await, never the
# thread: a write that is slow to commit still makes its announcement (live push, role bump), which
# a retry that finds the row at its version would not make again; a retry meanwhile is harmless
# (the version check). A try cancelled while still queued (every thread held by a database that
# hangs) is dropped from the queue, so tries never pile up to be written late.
OPENING_THREADS: int = settings.GATE_OPENING_THREADS
_openings = ThreadPoolExecutor(max_workers=OPENING_THREADS, thread_name_prefix="local-publish")
_in_flight: set[futures.Future[tuple[bool, datetime | None]]] = set()


@activity.defn(name=PUBLISH_LOCAL_ACTIVITY)
async def publish_gate_change_local(publication: GatePublication) -> LocalPublication:
    """Activity, run local to the workflow task that opened the gate: `publish_gate_change`
    (the same checks of who may publish what, in this activity's context), answering with the
    publication too, for the marker that records this call in history to keep it.

    Scheduled as an activity task instead (by a workflow of anyone who may start one in the
    namespace), it is refused before it takes an opening thread: those are for the openings of
    the worker's own runs, and the task path has an activity of its own."""
    if not activity.info().is_local:
        raise ApplicationError(
            f"{PUBLISH_LOCAL_ACTIVITY} runs only as a local activity of the run that opens the gate",
            type="NotLocal",
            non_retryable=True,
        )
    writing = _openings.submit(contextvars.copy_context().run, publish_opening, publication)
    _in_flight.add(writing)
    writing.add_done_callback(_in_flight.discard)
    # Cancelled while queued: never started.
    in_sync, first_seen = await asyncio.wrap_future(writing)
    return LocalPublication(in_sync=in_sync, publication=publication, first_seen=first_seen)


def wait_for_openings(timeout: float) -> bool:
    """Let the openings being written finish, announcements and all, before the process exits
    (`run_worker` ends with os._exit); True if they did within `timeout`."""
    _, pending = futures.wait(list(_in_flight), timeout)
    return not pending


PORTAL_ACTIVITIES = [publish_gate, publish_gate_change, publish_gate_change_local, notify_reviewers]

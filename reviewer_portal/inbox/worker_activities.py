"""The activities the worker sidecar runs for the portal: projection writes and notices."""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor

from temporalio import activity

from agents.framework.contract import PUBLISH_LOCAL_ACTIVITY
from agents.framework.gate_changes import GatePublication, LocalPublication
from reviewer_portal.inbox.notifications import notify_reviewers
from reviewer_portal.inbox.projection import publish_gate, publish_gate_change

# Openings are written on threads of their own, not on the worker's shared activity threads: queued
# there behind a slow mailer or the archive, the wait counted against the local publish's few
# seconds and sent openings to the task path. At its limit the SDK cancels the await, never the
# thread: a write that is slow to commit still makes its announcement (live push, role bump), which
# a retry that finds the row at its version would not make again; a retry meanwhile is harmless
# (the version check). A try cancelled while still queued (every thread held by a database that
# hangs) is dropped from the queue, so tries never pile up to be written late.
OPENING_THREADS = 4
_openings = ThreadPoolExecutor(max_workers=OPENING_THREADS, thread_name_prefix="local-publish")


@activity.defn(name=PUBLISH_LOCAL_ACTIVITY)
async def publish_gate_change_local(publication: GatePublication) -> LocalPublication:
    """Activity, run local to the workflow task that opened the gate: `publish_gate_change`
    (the same checks of who may publish what, in this activity's context), answering with the
    publication too, for the marker that records this call in history to keep it."""
    in_this_activity = contextvars.copy_context()
    in_sync: bool = await asyncio.get_running_loop().run_in_executor(
        _openings, in_this_activity.run, publish_gate_change, publication
    )
    return LocalPublication(in_sync=in_sync, publication=publication)


PORTAL_ACTIVITIES = [publish_gate, publish_gate_change, publish_gate_change_local, notify_reviewers]

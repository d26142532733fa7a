"""The activities the worker sidecar runs for the portal: projection writes and notices."""

from __future__ import annotations

from temporalio import activity

from agents.framework.contract import PUBLISH_LOCAL_ACTIVITY
from agents.framework.gate_changes import GatePublication, LocalPublication
from reviewer_portal.inbox.notifications import notify_reviewers
from reviewer_portal.inbox.projection import publish_gate, publish_gate_change


# A local activity that outlives its start-to-close has an exception raised in its thread by the
# SDK, wherever it is: here, between the row's commit and its announcement (live push, role bump),
# which a retry that finds the row at its version would not make again. Left to finish instead, as
# an activity task is; a retry meanwhile is harmless (the version check).
@activity.defn(name=PUBLISH_LOCAL_ACTIVITY, no_thread_cancel_exception=True)
def publish_gate_change_local(publication: GatePublication) -> LocalPublication:
    """Activity, run local to the workflow task that opened the gate: `publish_gate_change`
    (the same checks of who may publish what), answering with the publication too, for the
    marker that records this call in history to keep it."""
    return LocalPublication(in_sync=publish_gate_change(publication), publication=publication)


PORTAL_ACTIVITIES = [publish_gate, publish_gate_change, publish_gate_change_local, notify_reviewers]

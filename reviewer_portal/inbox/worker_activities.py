"""The activities the worker sidecar runs for the portal: projection writes and notices."""

from __future__ import annotations

from temporalio import activity

from agents.framework.contract import PUBLISH_LOCAL_ACTIVITY
from agents.framework.gate_changes import GatePublication, LocalPublication
from reviewer_portal.inbox.notifications import notify_reviewers
from reviewer_portal.inbox.projection import publish_gate, publish_gate_change


@activity.defn(name=PUBLISH_LOCAL_ACTIVITY)
def publish_gate_change_local(publication: GatePublication) -> LocalPublication:
    """Activity, run local to the workflow task that changed the gate: `publish_gate_change`
    (the same checks of who may publish what), answering with the publication too, for the
    marker that records this call in history to keep it."""
    return LocalPublication(in_sync=publish_gate_change(publication), publication=publication)


PORTAL_ACTIVITIES = [publish_gate, publish_gate_change, publish_gate_change_local, notify_reviewers]

"""The activities the worker sidecar runs for the portal: projection writes and notices."""

from __future__ import annotations

from reviewer_portal.inbox.notifications import notify_reviewers
from reviewer_portal.inbox.projection import publish_gate, publish_gate_change

PORTAL_ACTIVITIES = [publish_gate, publish_gate_change, notify_reviewers]

"""What a page missed between being rendered and its socket opening.

A page reads its gates, then its script opens /ws/gates/ a moment later: a gate that changed in
between was pushed to a socket not there yet. The page says when it was rendered (`since`, the
server's clock in milliseconds, in the socket's query string), and the socket's first messages
are the hints of the gates changed since then that its groups would have heard, as if pushed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q

from agents.framework.registry import AGENTS
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.selectors import supervised_by_any
from reviewer_portal.live.groups import ALL_GATES, groups_concerned, role_group
from reviewer_portal.notices.models import Notification

ROLE_GROUP = role_group("")

# Looked back before `since`: a change committed while the page was being read (its row written
# before the stamp, but after the page's query) is hinted too; a hint of what the page already
# shows costs a 204 or a version compared, nothing more.
MARGIN = timedelta(seconds=10)
# A page older than this (restored from the back/forward cache, left asleep) re-reads everything.
MAX_AGE = timedelta(minutes=10)
# More changes than this since the page was rendered: it re-reads everything instead.
LIMIT = 100
EVERYTHING = {"catch_up": "all"}  # no gate_id: every part of the page re-reads (and the bell)
NOTICES_CHANGED = {"notices": "changed"}  # the bell re-reads


def page_stamp(now: datetime) -> int:
    """The `since` a page rendered at `now` gives its socket."""
    return int(now.timestamp() * 1000)


def missed_since(since: str, groups: list[str], now: datetime, user_pk: Any = None) -> list[dict[str, Any]]:
    """The hints a socket of `groups` opened at `now` owes a page rendered at `since`: one per gate
    changed since then that concerns those groups, or EVERYTHING; and the bell's, if the user
    `user_pk` was notified meanwhile. None if `since` is not a stamp (a page of the release before,
    or made up). Only the socket's own gates are counted against LIMIT: how busy other roles are
    is not its business."""
    if not (since.isascii() and since.isdigit()) or len(since) > 15:
        return []
    if int(since) > page_stamp(now + timedelta(minutes=1)):
        return []  # not a stamp this server made (nor a time at all, past the year 9999)
    rendered = datetime.fromtimestamp(int(since) / 1000, tz=UTC)
    if now - rendered > MAX_AGE:
        return [EVERYTHING]
    notified = Notification.objects.filter(recipient_id=user_pk, created_at__gte=rendered - MARGIN).exists()
    bell = [NOTICES_CHANGED] if user_pk is not None and notified else []
    heard = _heard_by(groups)
    if heard is None:
        return bell
    changed = list(
        Gate.objects.filter(heard, updated_at__gte=rendered - MARGIN)
        .only("gate_id", "status", "role", "version", "supervisors", "escalation_level", "agent", "kind")
        .order_by("updated_at")[: LIMIT + 1]
    )
    mine = [gate for gate in changed if set(groups).intersection(groups_concerned(gate))]
    if len(mine) > LIMIT:
        return [EVERYTHING, *bell]
    hints = [{"gate_id": g.gate_id, "status": g.status, "role": g.role, "version": g.version} for g in mine]
    return [*hints, *bell]


def _heard_by(groups: list[str]) -> Q | None:
    """The gates whose pushes `groups` hear, as a query that may take in a few more (the exact
    test is groups_concerned); None if they hear no gate's."""
    if ALL_GATES in groups:
        return Q()
    roles = {group.removeprefix(ROLE_GROUP) for group in groups if group.startswith(ROLE_GROUP)}
    if not roles:
        return None
    heard = Q(role__in=roles) | supervised_by_any(roles)
    for agent, kind in _escalating_through(roles):  # escalated gates tell the roles they moved through
        heard |= Q(agent=agent, kind=kind, escalation_level__gt=0)
    return heard


def _escalating_through(roles: set[str]) -> set[tuple[str, str]]:
    """The (agent, gate kind) pairs whose gates start at or escalate through one of `roles`."""
    pairs = set()
    for name, spec in AGENTS.items():
        for policy in (spec.gate, spec.approval_gate):
            if policy and roles & {policy.role, *(step.role for step in policy.escalations)}:
                pairs.add((name, policy.kind))
    return pairs

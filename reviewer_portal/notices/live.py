"""Tell a user's open pages that their notifications changed, over the live-update WebSocket.

A hint only (the bell re-reads its count through its own view), sent to the user's own group, so
it carries nothing about any gate. Like gate pushes, a failing channel layer is logged, never
raised: the notification is already stored and the bell's poll finds it.
"""

from __future__ import annotations

from collections.abc import Iterable

from reviewer_portal.live.broadcast import push
from reviewer_portal.live.groups import user_group

EVENT = {"type": "notices.changed"}


def push_notices_changed(user_ids: Iterable[int]) -> None:
    push(sorted({user_group(user_id) for user_id in user_ids}), EVENT, what="notifications")

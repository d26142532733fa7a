"""Tell a user's open pages that their notifications changed, over the live-update WebSocket.

A hint only (the bell re-reads its count through its own view), sent to the user's own group, so
it carries nothing about any gate. Like gate pushes, a failing channel layer is logged, never
raised: the notification is already stored and the bell's poll finds it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Iterable
from concurrent.futures import Future

from channels.layers import BaseChannelLayer, get_channel_layer

from reviewer_portal.live.broadcast import PUSH_TIMEOUT_SECONDS, push_loop
from reviewer_portal.live.groups import user_group

logger = logging.getLogger(__name__)

EVENT = {"type": "notices.changed"}


def push_notices_changed(user_ids: Iterable[int]) -> None:
    layer = get_channel_layer()
    groups = sorted({user_group(user_id) for user_id in user_ids})
    if layer is None or not groups:
        return
    push = asyncio.wait_for(_send(layer, groups), PUSH_TIMEOUT_SECONDS)
    # A context of its own, as reviewer_portal.live.broadcast explains.
    future = contextvars.Context().run(asyncio.run_coroutine_threadsafe, push, push_loop())
    future.add_done_callback(lambda done: _log_failure(done, groups))


async def _send(layer: BaseChannelLayer, groups: list[str]) -> None:
    for group in groups:
        await layer.group_send(group, dict(EVENT))


def _log_failure(done: Future[None], groups: list[str]) -> None:
    if not done.cancelled() and done.exception() is not None:
        logger.warning("Notification push to %s lost", groups, exc_info=done.exception())

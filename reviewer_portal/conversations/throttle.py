"""Rate limits on the customer chat: how many conversations a customer starts an hour, and how
many messages a conversation takes a minute. A fixed window per key, counted in the `throttle`
cache (in memory, so per portal process: with N processes a customer gets at most N times the
limit; point that cache at a shared one to make it exact)."""

from __future__ import annotations

import time

from django.core.cache import caches


def retry_after(key: str, *, limit: int, window_seconds: int) -> int | None:
    """Count one more request for `key`; the seconds to wait if that is over `limit` in the
    current window, else None."""
    cache = caches["throttle"]
    now = time.time()
    window = int(now // window_seconds)
    counter = f"{key}:{window}"
    if cache.add(counter, 1, timeout=window_seconds):
        return None
    try:
        count = cache.incr(counter)
    except ValueError:  # the window ended between add and incr
        cache.add(counter, 1, timeout=window_seconds)
        return None
    if count <= limit:
        return None
    return max(1, int((window + 1) * window_seconds - now))

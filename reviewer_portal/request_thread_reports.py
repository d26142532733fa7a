"""What the operator is told when the request line could not serve requests as it should
(reviewer_portal.request_threads): the first such request at once, then their count at most every
REPORT_SECONDS while there are more."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

log = logging.getLogger("reviewer_portal.request_threads")

REPORT_SECONDS = 60

# Every thread held: the threads are too few for the load, or held (an outage).
UNLENT = (
    "%d request(s) found all %d request threads busy for %.1f s and got threads of their own"
    " (PORTAL_REQUEST_THREADS)"
)


class LineReport:
    """Counts per message, each with the figures it names besides the count."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, tuple[float, ...]]] = Counter()
        self._next: asyncio.TimerHandle | None = None

    def count(self, loop: asyncio.AbstractEventLoop, message: str, *figures: float) -> None:
        self._counts[message, figures] += 1
        if self._next is None:
            self._report(loop)

    def _report(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._counts:
            self._next = None
            return
        for (message, figures), count in self._counts.items():
            log.warning(message, count, *figures)
        self._counts.clear()
        self._next = loop.call_later(REPORT_SECONDS, self._report, loop)

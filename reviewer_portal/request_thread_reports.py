"""What the operator is told when requests found every request thread held and got threads of
their own (reviewer_portal.request_threads): the first at once, then their count at most every
REPORT_SECONDS while there are more."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("reviewer_portal.request_threads")

REPORT_SECONDS = 60


class UnlentReport:
    """Requests served on threads of their own: the threads are too few for the load, or held."""

    def __init__(self, threads: int, waited: float) -> None:
        self._threads, self._waited = threads, waited  # the figures every report names
        self._count = 0
        self._next: asyncio.TimerHandle | None = None

    def count(self, loop: asyncio.AbstractEventLoop) -> None:
        self._count += 1
        if self._next is None:
            self._report(loop)

    def _report(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._count:
            self._next = None
            return
        log.warning(
            "%d request(s) found all %d request threads busy for %.1f s and got threads of their own"
            " (PORTAL_REQUEST_THREADS)",
            self._count,
            self._threads,
            self._waited,
        )
        self._count = 0
        self._next = loop.call_later(REPORT_SECONDS, self._report, loop)

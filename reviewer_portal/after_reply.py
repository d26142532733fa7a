"""A reply with work left to do once it is sent.

Django closes a response after its last byte has gone out: under daphne or uvicorn (Django's ASGI
handler) the client already holds the whole reply by then; the test client closes it before it
returns. So work done in `close()` is off the reviewer's wait and still done before the request
ends, in the request's own thread, before its database connection is released.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpResponse

log = logging.getLogger(__name__)


class AfterReply(HttpResponse):
    """An HttpResponse that runs `after` when the server closes it. A failure there is logged:
    the reply has gone, so it can only be work that another path also does (or retries)."""

    def __init__(self, content: str | bytes, *, after: Callable[[], object], status: int = 200) -> None:
        super().__init__(content, status=status)
        self._after: Callable[[], object] | None = after

    def run_after(self) -> None:
        """The work after the reply, once: when the server closes the reply, or when the view
        learns the client went away before it was sent (then Django never closes it)."""
        after, self._after = self._after, None
        if after is None:
            return
        try:
            after()
        except Exception:
            log.exception("Work after the reply failed")

    def close(self) -> None:
        try:
            self.run_after()
        finally:
            super().close()

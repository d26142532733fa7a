"""The database connections of the portal's request threads (reviewer_portal.request_threads):
kept between requests, where Django under ASGI opens and closes one per request."""

from __future__ import annotations

import logging
from collections import ChainMap
from concurrent.futures import Future
from typing import Any, cast

from django.db import connections
from django.db.utils import load_backend

log = logging.getLogger("reviewer_portal.request_threads")

KEEP_CONNECTION_SECONDS = 300


def keep_connections() -> None:
    """Run first on each request thread: its connections are kept between requests, for
    KEEP_CONNECTION_SECONDS, and checked before each (CONN_HEALTH_CHECKS).

    The thread's connection objects read the configured settings through an overlay (a test run's
    database name, set later, still reaches them) that only says how long to keep a connection and
    to check it before use."""
    overlay = {"CONN_MAX_AGE": KEEP_CONNECTION_SECONDS, "CONN_HEALTH_CHECKS": True}
    for alias in connections:
        configured = connections.settings[alias]
        backend = load_backend(configured["ENGINE"])
        connections[alias] = backend.DatabaseWrapper(
            cast(dict[str, Any], ChainMap(overlay, configured)), alias
        )


def log_close_failure(done: Future[Any]) -> None:
    if (error := done.exception()) is not None:
        log.warning("Closing an idle request thread's connections failed: %s", error)

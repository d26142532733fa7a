"""The portal's ASGI application, whose first loading hangs, as an import stuck on a hung mount
or a connection would: for tests/test_serve_portal_loop_watch.py only. The first process to load
it creates the file FIRST_LOAD_MARKER names, and hangs; the others load the portal."""

from __future__ import annotations

import os
import time

from reviewer_portal.asgi import application as portal

MARKER = "FIRST_LOAD_MARKER"


def _first_load() -> bool:
    try:
        os.close(os.open(os.environ[MARKER], os.O_CREAT | os.O_EXCL))
    except (KeyError, FileExistsError):  # not served by the test, or not the first
        return False
    return True


if _first_load():
    time.sleep(3600)  # on the event loop, before the server serves

application = portal

"""What each `serve_portal` process serves: the application SERVE_PORTAL_APP names (the portal's by
default), in a process that ends with its supervisor.

The supervisor makes the processes, and without this they would outlive a supervisor killed
outright (SIGKILL, the OOM killer), still holding the port, so the next start fails with "address
already in use". Linux sends each one SIGTERM when its parent dies (PR_SET_PDEATHSIG); the process
then stops as on any SIGTERM, letting its requests finish (one whose loop hangs ends itself later:
operations/watched_process.py).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import traceback
from typing import Any

from django.utils.module_loading import import_string
from uvicorn.config import STARTUP_FAILURE

from reviewer_portal.operations.management.commands.serve_portal import APP, PORTAL_APP, SUPERVISOR

PR_SET_PDEATHSIG = 1


def end_with_supervisor() -> None:
    supervisor = os.environ.get(SUPERVISOR)
    if not supervisor:
        return
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
    if prctl is None:  # not Linux: the processes are left to the service manager to end
        return
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(supervisor):  # it died before the signal was asked for
        os.kill(os.getpid(), signal.SIGTERM)


def load() -> Any:
    """The application; a process that cannot load it exits with uvicorn's startup-failure code,
    so the supervisor stops (and exits 3) instead of starting it again and again."""
    try:
        return import_string(os.environ.get(APP, PORTAL_APP).replace(":", "."))
    except Exception:  # a missing setting or key, a broken import: all the same to the operator
        traceback.print_exc()
        sys.exit(STARTUP_FAILURE)


end_with_supervisor()
application = load()

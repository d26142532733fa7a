"""Bytecode for the workflow modules, written once when a worker starts.

Temporal's sandbox imports a workflow's module (and the modules it imports that are not passed
through) afresh for every run. Without their bytecode on disk, as where PYTHONDONTWRITEBYTECODE is
set (common in container images), Python compiles them from source every time: about 17 ms of
worker CPU for each loan run on two cores, more than its three model calls cost the worker. So
the worker writes the bytecode of the folders its workflows live in once, at start, whatever that
setting says; where it cannot (a read-only file system), it says so and runs anyway.
"""

from __future__ import annotations

import compileall
import inspect
import logging
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)


def compile_workflow_modules(workflows: Iterable[type]) -> list[Path]:
    """Write any missing or stale bytecode of the folders that hold `workflows`' modules (not
    their subfolders). Returns the folders it could not write to."""
    folders = dict.fromkeys(Path(inspect.getfile(w)).resolve().parent for w in workflows)
    unwritable = [folder for folder in folders if not compileall.compile_dir(folder, maxlevels=0, quiet=2)]
    for folder in unwritable:
        log.warning(
            "could not write the bytecode of %s: the sandbox compiles its modules again for every run",
            folder,
        )
    return unwritable

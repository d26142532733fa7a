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
import py_compile
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)


def compile_workflow_modules(workflows: Iterable[type]) -> list[Path]:
    """Write the bytecode of the folders that hold `workflows`' modules (not their subfolders).
    Returns the folders it could not write all of."""
    folders = dict.fromkeys(Path(inspect.getfile(w)).resolve().parent for w in workflows)
    unwritable = [folder for folder in folders if not _compiled(folder)]
    for folder in unwritable:
        log.warning(
            "could not write the bytecode of every module in %s: the sandbox compiles those again"
            " for every run",
            folder,
        )
    return unwritable


def _compiled(folder: Path) -> bool:
    """Hash-checked bytecode: an import compares it with the source's content, not its time and
    size, so a deploy that keeps a file's mtime (an archive, a copy with -p) never runs old code.
    compileall writes it again at each start (well under a second for the framework's folder)."""
    return compileall.compile_dir(
        folder,
        maxlevels=0,
        quiet=2,
        force=True,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )

"""How the embedded stack keeps the Temporal dev server's state in a file (`make dev`'s
var/temporal.db), shared with the benchmarks that run the dev server as `make dev` does.

The dev server writes every start, task and event through one SQLite connection, in SQLite's
default rollback journal with a full fsync per commit: that one writer is what bounds a burst of
starts on it (benchmarks/start_burst.py). In write-ahead-log mode, with a full fsync only at
checkpoints, it takes about twice the starts a second (measured in the README's "Start burst").
As for the portal's own SQLite (reviewer_portal/backends.py): a crash of the process loses
nothing; a power cut may lose the last moments' commits, which a development stack can afford.
A production cluster keeps its state in its own database, not here.
"""

from __future__ import annotations

from pathlib import Path

SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def store_args(db_filename: Path) -> list[str]:
    """The `temporal server start-dev` arguments that keep its state in `db_filename`."""
    args = ["--db-filename", str(db_filename)]
    for pragma in SQLITE_PRAGMAS:
        args += ["--sqlite-pragma", pragma]
    return args

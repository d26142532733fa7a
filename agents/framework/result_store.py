"""Results kept beside history: what a long loop would otherwise carry from run to run.

A continuation carries at most its spec's `carried_results_max` results in history; when it has
more, the oldest are sealed here in one chunk and the carry keeps the chunk's reference instead
(agents/framework/pruning.py). The run opens the chunks again once, when it needs every result:
for the outcome `on_complete` acts on, or the evidence of its final gate.

A chunk is the results as JSON, named by the SHA-256 of that JSON (the same chunk is written
once), sealed with the namespace's payload keys in `<DOCUMENT_STORE_DIR>/<namespace>/results/`.
A chunk that is missing, altered or not the one named fails the run's step loudly: a report is
never made from part of the results.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.framework.codec import NamespaceKeys, PayloadKeys
from agents.framework.contract import OPEN_RESULTS_ACTIVITY, SEAL_RESULTS_ACTIVITY
from agents.framework.sealed_files import read_sealed, store_root, write_sealed
from agents.framework.types import ToolResult

_REF = re.compile(r"[0-9a-f]{64}")
# An ApplicationError type: the chunk cannot be opened as named (retrying will not change that).
SEALED_RESULTS_UNREADABLE = "SealedResultsUnreadable"


class ResultStore:
    def __init__(self, root: Path, keys: NamespaceKeys, namespace: str) -> None:
        self.directory = root / namespace / "results"
        self._keys = keys
        self._namespace = namespace

    @classmethod
    def from_env(cls, namespace: str) -> ResultStore:
        return cls(store_root(), PayloadKeys.from_env().of(namespace), namespace)

    def seal(self, results: list[ToolResult]) -> str:
        """Keep `results`; returns the reference the carry keeps (idempotent: a retried step
        writes nothing new)."""
        body = json.dumps([asdict(r) for r in results], sort_keys=True, ensure_ascii=False).encode()
        ref = hashlib.sha256(body).hexdigest()
        path = self._path(ref)
        if not path.exists():
            write_sealed(path, self._keys, self._namespace, body)
        return ref

    def open(self, ref: str) -> list[ToolResult]:
        """The results sealed as `ref`. Raises LookupError if there is no such chunk, ValueError
        if the reference is malformed or the file is not the chunk it names."""
        path = self._path(ref)
        try:
            body = read_sealed(path, self._keys, self._namespace)
        except FileNotFoundError as err:
            raise LookupError(f"No sealed results {ref} in {self.directory}.") from err
        if hashlib.sha256(body).hexdigest() != ref:
            raise ValueError(f"Sealed results {ref} are not the ones the run sealed.")
        return [ToolResult(**r) for r in json.loads(body)]

    def _path(self, ref: str) -> Path:
        # References come back from history: never let one name another path.
        if not _REF.fullmatch(ref):
            raise ValueError("A sealed-results reference is 64 hex digits.")
        return self.directory / f"{ref}.json"


@activity.defn(name=SEAL_RESULTS_ACTIVITY)
def seal_results(results: list[ToolResult]) -> str:
    """Activity: seal a continuation's oldest results beside history; returns their reference."""
    return ResultStore.from_env(activity.info().namespace).seal(results)


@activity.defn(name=OPEN_RESULTS_ACTIVITY)
def open_sealed_results(refs: list[str]) -> list[ToolResult]:
    """Activity: every result sealed as `refs`, in order. An altered chunk fails for good; a
    missing one is retried (a volume not yet mounted on this replica), then fails the step."""
    store = ResultStore.from_env(activity.info().namespace)
    try:
        return [result for ref in refs for result in store.open(ref)]
    except ValueError as err:
        raise ApplicationError(str(err), type=SEALED_RESULTS_UNREADABLE, non_retryable=True) from err

"""Results kept beside history: what a long loop would otherwise carry from run to run.

A continuation carries at most its spec's `carried_results_max` results in history; when it has
more, the oldest are sealed here in one chunk and the carry keeps the chunk's reference instead
(agents/framework/pruning.py). The run opens the chunks again once, when it needs every result:
for the outcome `on_complete` acts on, or the evidence of its final gate; then, the results back
in its history, it deletes them (the archive keeps that history, so no copy outlives it here).

A chunk is the results as JSON (ASCII: a lone surrogate the model wrote is escaped, not an
error), named by the SHA-256 of the workflow id and that JSON, so a run opens only its own chain's
chunks and a retried step writes nothing new; sealed with the namespace's payload keys in
`<DOCUMENT_STORE_DIR>/<namespace>/results/<workflow's folder>/`. A chain's folder is deleted when
the archive has its histories (`forget_chain`), so even a run that failed before opening its
chunks leaves none behind. Opening never guesses: a missing chunk, or one sealed
with a key this replica lacks, is retried (a volume or a key still being rolled out); one altered,
another run's, or not the one named fails the step for good. A report is never made from part of
the results.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.framework.codec import NamespaceKeys, PayloadKeys
from agents.framework.contract import FORGET_RESULTS_ACTIVITY, OPEN_RESULTS_ACTIVITY, SEAL_RESULTS_ACTIVITY
from agents.framework.sealed_files import read_sealed, store_root, write_sealed
from agents.framework.types import BY_MODEL, ToolResult

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

    def seal(self, results: list[ToolResult], owner: str) -> str:
        """Keep `results` of the workflow `owner`; returns the reference the carry keeps."""
        body = json.dumps([_as_sealed(r) for r in results], sort_keys=True).encode()
        ref = _ref(owner, body)
        path = self._path(ref, owner)
        if not path.exists():
            write_sealed(path, self._keys, self._namespace, body)
        return ref

    def open(self, ref: str, owner: str) -> list[ToolResult]:
        """The results the workflow `owner` sealed as `ref`. Raises LookupError if there is no
        such chunk or its key is not here; ValueError if the reference is malformed, or the file
        is altered, another workflow's, or not the chunk named."""
        path = self._path(ref, owner)
        try:
            body = read_sealed(path, self._keys, self._namespace)
        except FileNotFoundError as err:
            raise LookupError(f"No sealed results {ref} in {self.directory}.") from err
        if _ref(owner, body) != ref:
            raise ValueError(f"Sealed results {ref} are not the ones workflow {owner} sealed.")
        try:
            known = {f.name for f in fields(ToolResult)}
            return [ToolResult(**{k: v for k, v in r.items() if k in known}) for r in json.loads(body)]
        except (TypeError, KeyError) as err:
            raise ValueError(f"Sealed results {ref} do not read as tool results: {err}") from err

    def forget(self, ref: str, owner: str) -> bool:
        """Delete the chunk `owner` sealed as `ref` (only ever in its own folder); False if there
        is none."""
        path = self._path(ref, owner)
        if not path.exists():
            return False
        path.unlink(missing_ok=True)
        return True

    def _path(self, ref: str, owner: str) -> Path:
        # References come back from history: never let one name another path.
        if not _REF.fullmatch(ref):
            raise ValueError("A sealed-results reference is 64 hex digits.")
        return chain_folder(self.directory, owner) / f"{ref}.json"


def chain_folder(directory: Path, owner: str) -> Path:
    """The folder of the workflow `owner`'s chunks (named by a digest: ids may hold any text)."""
    return directory / hashlib.sha256(owner.encode()).hexdigest()[:32]


def forget_chain(namespace: str, owner: str) -> int:
    """Delete every chunk the workflow `owner` sealed (its histories are archived: they hold the
    results too); how many. Needs no keys: the archiver calls it."""
    folder = chain_folder(store_root() / namespace / "results", owner)
    if not folder.exists():
        return 0
    chunks = len(list(folder.glob("*.json")))
    shutil.rmtree(folder)  # an OSError is the caller's to report
    return chunks


def _ref(owner: str, body: bytes) -> str:
    return hashlib.sha256(owner.encode() + b"\n" + body).hexdigest()


def _owner(info: activity.Info) -> str:
    """The workflow whose chunks these are: only a workflow's step has any."""
    if not info.workflow_id:
        raise ApplicationError(
            "Sealed results belong to a workflow.", type=SEALED_RESULTS_UNREADABLE, non_retryable=True
        )
    return info.workflow_id


@activity.defn(name=SEAL_RESULTS_ACTIVITY)
def seal_results(results: list[ToolResult]) -> str:
    """Activity: seal a continuation's oldest results beside history; returns their reference.
    Results that cannot be written as JSON fail for good (the run then carries them unsealed)."""
    info = activity.info()
    try:
        return ResultStore.from_env(info.namespace).seal(results, _owner(info))
    except (TypeError, ValueError) as err:
        raise ApplicationError(str(err), type=SEALED_RESULTS_UNREADABLE, non_retryable=True) from err


@activity.defn(name=OPEN_RESULTS_ACTIVITY)
def open_sealed_results(refs: list[str]) -> list[ToolResult]:
    """Activity: every result the run's chain sealed as `refs`, in order. A chunk missing, or
    sealed with a key not here, is retried; any other that does not open fails for good."""
    info = activity.info()
    store = ResultStore.from_env(info.namespace)
    try:
        return [result for ref in refs for result in store.open(ref, _owner(info))]
    except ValueError as err:  # (a LookupError, KeyNotFound among them, is retried)
        raise ApplicationError(str(err), type=SEALED_RESULTS_UNREADABLE, non_retryable=True) from err


@activity.defn(name=FORGET_RESULTS_ACTIVITY)
def forget_sealed_results(refs: list[str]) -> int:
    """Activity: delete the run's chunks once their results are back in its history; how many."""
    info = activity.info()
    store = ResultStore.from_env(info.namespace)
    return sum(store.forget(ref, _owner(info)) for ref in refs)


def _as_sealed(result: ToolResult) -> dict[str, Any]:
    """A result as a chunk keeps it: `requested_by` only when not the model's, so a chunk of the
    model's results reads the same to a worker from before that field (a rolling deploy)."""
    sealed = asdict(result)
    if result.requested_by == BY_MODEL:
        del sealed["requested_by"]
    return sealed

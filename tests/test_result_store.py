"""A long loop's oldest results, sealed beside history (agents/framework/result_store.py): kept
once, encrypted, opened only by the chain that sealed them and only as they were sealed; anything
else fails loudly and is never read as part of a report. The run that seals and opens them is
tests/test_history_growth.py."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from agents.framework.codec import KeyNotFound, PayloadKeys
from agents.framework.result_store import (
    SEALED_RESULTS_UNREADABLE,
    ResultStore,
    _ref,
    chain_folder,
    forget_chain,
    forget_sealed_results,
    open_sealed_results,
    seal_results,
)
from agents.framework.sealed_files import STORE_DIR_ENV, read_sealed, write_sealed
from agents.framework.types import ToolResult
from tests.conftest import TEST_PAYLOAD_KEYS

pytestmark = pytest.mark.once  # no database: one CI pass

RUN = "regulatory-test-1"
RESULTS = [
    ToolResult(call_id="call_1", name="regulatory.record_finding", ok=True, result={"stored": "a" * 64}),
    ToolResult(call_id="call_2", name="regulatory.record_finding", ok=False, error="Refused: no such rule."),
    # Odd Unicode comes back as it went: right-to-left, a zero-width joiner, an astral symbol, and
    # a lone surrogate (the model's JSON may hold one; Temporal's converter carries it).
    ToolResult(
        call_id="call_3", name="x", ok=True, result={"note": "\u05e9\u05dc\u05d5\u05dd \u200d \U0001f4b8"}
    ),
    ToolResult(call_id="call_4", name="x", ok=False, error="Unknown rule '\ud800'"),
]


@pytest.fixture
def store(tmp_path, monkeypatch) -> ResultStore:
    monkeypatch.setenv(STORE_DIR_ENV, str(tmp_path))
    monkeypatch.setenv("PAYLOAD_KEYS", TEST_PAYLOAD_KEYS)
    return ResultStore.from_env("default")


def chunk(store: ResultStore, ref: str, owner: str = RUN) -> Path:
    return chain_folder(store.directory, owner) / f"{ref}.json"


def test_results_are_sealed_once_and_open_as_they_were(store):
    ref = store.seal(RESULTS, RUN)
    [path] = list(store.directory.rglob("*.json"))
    written = path.stat().st_mtime_ns

    assert store.seal([*RESULTS], RUN) == ref and path.stat().st_mtime_ns == written  # a retried step
    assert store.open(ref, RUN) == RESULTS
    assert b"record_finding" not in path.read_bytes() and b"call_1" not in path.read_bytes()
    assert store.seal(RESULTS[:1], RUN) != ref and len(list(store.directory.rglob("*.json"))) == 2


def test_a_chunk_is_its_chains_own(store):
    """Another workflow that learns a chunk's name (the files are listed by it) cannot open it:
    it looks in its own folder, and a copy put there is not its own; the same results of two runs
    are two chunks."""
    ref = store.seal(RESULTS, RUN)
    with pytest.raises(LookupError, match="No sealed results"):
        store.open(ref, "other-run")
    chunk(store, ref, "other-run").parent.mkdir(parents=True)
    chunk(store, ref, "other-run").write_bytes(chunk(store, ref).read_bytes())
    with pytest.raises(ValueError, match="not the ones workflow other-run sealed"):
        store.open(ref, "other-run")
    assert store.seal(RESULTS, "other-run") != ref


def test_a_chunk_altered_swapped_missing_or_misnamed_is_never_opened(store, tmp_path):
    ref, other = store.seal(RESULTS, RUN), store.seal(RESULTS[:1], RUN)
    path = chunk(store, ref)

    # Sealed: flipping a byte of the ciphertext fails authentication.
    body = path.read_bytes()
    path.write_bytes(body[:-1] + bytes([body[-1] ^ 1]))
    with pytest.raises(ValueError):
        store.open(ref, RUN)
    # Another chunk copied under this one's name: the file's name is bound into its seal.
    path.write_bytes(chunk(store, other).read_bytes())
    with pytest.raises(ValueError):
        store.open(ref, RUN)
    # Another namespace's store has its own folder, and lacks the keys of this one's chunks.
    loans = ResultStore(tmp_path, PayloadKeys.from_json(TEST_PAYLOAD_KEYS).of("loans"), "loans")
    with pytest.raises(LookupError):
        loans.open(other, RUN)
    chunk(loans, other).parent.mkdir(parents=True)
    chunk(loans, other).write_bytes(chunk(store, other).read_bytes())
    with pytest.raises(KeyNotFound, match="another namespace"):
        loans.open(other, RUN)
    path.unlink()
    with pytest.raises(LookupError, match="No sealed results"):
        store.open(ref, RUN)
    for forged in ("../../etc/passwd", "A" * 64, ref[:-1], ""):
        with pytest.raises(ValueError, match="64 hex"):
            store.open(forged, RUN)


def test_the_activities_seal_and_open_in_order_and_what_cannot_heal_fails_for_good(store):
    env = ActivityEnvironment()  # the SDK's activity context: namespace "default"
    env.info = dataclasses.replace(env.info, workflow_id=RUN)
    first = env.run(seal_results, RESULTS[:2])
    second = env.run(seal_results, RESULTS[2:])

    assert env.run(open_sealed_results, [first, second]) == RESULTS
    assert env.run(open_sealed_results, []) == []

    # Sealed right but not tool results (a chunk of another shape): for good.
    body = json.dumps([{"not": "a result"}]).encode()
    odd = hashlib.sha256(RUN.encode() + b"\n" + body).hexdigest()
    write_sealed(
        chunk(store, odd),
        PayloadKeys.from_json(TEST_PAYLOAD_KEYS).of("default"),
        "default",
        body,
    )
    with pytest.raises(ApplicationError) as refused:
        env.run(open_sealed_results, [first, odd])
    assert refused.value.type == SEALED_RESULTS_UNREADABLE and refused.value.non_retryable

    path = chunk(store, second)
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(ApplicationError) as refused:
        env.run(open_sealed_results, [first, second])
    assert refused.value.type == SEALED_RESULTS_UNREADABLE and refused.value.non_retryable
    # A missing chunk is an ordinary failure: retried (the store may be mounting), never skipped.
    path.unlink()
    with pytest.raises(LookupError):
        env.run(open_sealed_results, [first, second])


def test_results_that_cannot_be_written_fail_the_seal_for_good_and_the_run_carries_them(store):
    env = ActivityEnvironment()
    unwritable = [ToolResult(call_id="c", name="x", ok=True, result={"s": {1, 2}})]  # no JSON for a set
    with pytest.raises(ApplicationError) as refused:
        env.run(seal_results, unwritable)
    assert refused.value.non_retryable and not list(store.directory.rglob("*.json"))


def test_a_run_deletes_only_its_own_chunks_once_opened(store):
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=RUN)
    mine = env.run(seal_results, RESULTS[:1])
    theirs = store.seal(RESULTS[1:], "other-run")

    # Another run's chunk named by a forged list is left alone; a missing one is no error.
    assert env.run(forget_sealed_results, [mine, theirs, "b" * 64]) == 1
    assert {p.stem for p in store.directory.rglob("*.json")} == {theirs}
    assert store.open(theirs, "other-run") == RESULTS[1:]
    assert env.run(forget_sealed_results, [mine]) == 0  # a retried step deletes nothing more


def test_an_archived_chains_chunks_are_deleted_and_no_one_elses(store):
    """What the archiver does once it holds a closed chain's histories (they hold the results)."""
    store.seal(RESULTS[:1], RUN)
    store.seal(RESULTS[1:], RUN)
    running = store.seal(RESULTS, "still-running")

    assert forget_chain("default", RUN) == 2 and not chain_folder(store.directory, RUN).exists()
    assert forget_chain("default", RUN) == 0  # archived again, or never sealed: nothing to do
    assert store.open(running, "still-running") == RESULTS


def test_who_asked_is_kept_and_a_chunk_reads_across_a_rolling_deploy(store):
    """A framework's call keeps `requested_by`; the model's results seal as they did before that
    field (a worker from before it can open them), and a key this worker does not know is ignored
    rather than failing the run."""
    framework = ToolResult(call_id="opening01", name="x", ok=True, result={}, requested_by="framework")
    ref = store.seal([RESULTS[0], framework], RUN)
    assert store.open(ref, RUN) == [RESULTS[0], framework]
    sealed = json.loads(read_sealed(chunk(store, ref), store._keys, "default"))
    assert "requested_by" not in sealed[0] and sealed[1]["requested_by"] == "framework"

    body = json.dumps([{**dataclasses.asdict(RESULTS[0]), "field_of_a_later_worker": 1}]).encode()
    ref = _ref(RUN, body)
    write_sealed(chunk(store, ref), store._keys, "default", body)
    assert store.open(ref, RUN) == [RESULTS[0]]

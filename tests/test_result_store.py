"""A long loop's oldest results, sealed beside history (agents/framework/result_store.py): kept
once, encrypted, opened only as the chunk the run sealed; anything else fails loudly and is never
read as part of a report. The run that seals and opens them is tests/test_history_growth.py."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from agents.framework.codec import PayloadKeys
from agents.framework.result_store import (
    SEALED_RESULTS_UNREADABLE,
    ResultStore,
    open_sealed_results,
    seal_results,
)
from agents.framework.sealed_files import STORE_DIR_ENV
from agents.framework.types import ToolResult
from tests.conftest import TEST_PAYLOAD_KEYS

pytestmark = pytest.mark.once  # no database: one CI pass

RESULTS = [
    ToolResult(call_id="call_1", name="regulatory.record_finding", ok=True, result={"finding_ref": "a" * 64}),
    ToolResult(call_id="call_2", name="regulatory.record_finding", ok=False, error="Refused: no such rule."),
    # Odd Unicode comes back as it went: right-to-left, a zero-width joiner, an astral symbol.
    ToolResult(
        call_id="call_3", name="x", ok=True, result={"note": "\u05e9\u05dc\u05d5\u05dd \u200d \U0001f4b8"}
    ),
]


@pytest.fixture
def store(tmp_path, monkeypatch) -> ResultStore:
    monkeypatch.setenv(STORE_DIR_ENV, str(tmp_path))
    monkeypatch.setenv("PAYLOAD_KEYS", TEST_PAYLOAD_KEYS)
    return ResultStore.from_env("default")


def test_results_are_sealed_once_and_open_as_they_were(store):
    ref = store.seal(RESULTS)
    [path] = list(store.directory.glob("*.json"))
    written = path.stat().st_mtime_ns

    assert store.seal([*RESULTS]) == ref and path.stat().st_mtime_ns == written  # a retried step
    assert store.open(ref) == RESULTS
    assert b"record_finding" not in path.read_bytes() and b"call_1" not in path.read_bytes()
    assert store.seal(RESULTS[:1]) != ref and len(list(store.directory.glob("*.json"))) == 2


def test_a_chunk_altered_swapped_missing_or_misnamed_is_never_opened(store, tmp_path):
    ref, other = store.seal(RESULTS), store.seal(RESULTS[:1])
    path = store.directory / f"{ref}.json"

    # Sealed: flipping a byte of the ciphertext fails authentication.
    body = path.read_bytes()
    path.write_bytes(body[:-1] + bytes([body[-1] ^ 1]))
    with pytest.raises(ValueError):
        store.open(ref)
    # Another chunk copied under this one's name: the file's name is bound into its seal.
    path.write_bytes((store.directory / f"{other}.json").read_bytes())
    with pytest.raises(ValueError):
        store.open(ref)
    # Another namespace's store has its own folder, and cannot open this one's chunks copied in.
    loans = ResultStore(tmp_path, PayloadKeys.from_json(TEST_PAYLOAD_KEYS).of("loans"), "loans")
    with pytest.raises(LookupError):
        loans.open(other)
    loans.directory.mkdir(parents=True)
    (loans.directory / f"{other}.json").write_bytes((store.directory / f"{other}.json").read_bytes())
    with pytest.raises(LookupError, match="another namespace"):
        loans.open(other)
    path.unlink()
    with pytest.raises(LookupError, match="No sealed results"):
        store.open(ref)
    for forged in ("../../etc/passwd", "A" * 64, ref[:-1], ""):
        with pytest.raises(ValueError, match="64 hex"):
            store.open(forged)


def test_the_activities_seal_and_open_in_order_and_an_altered_chunk_fails_for_good(store):
    env = ActivityEnvironment()  # the SDK's activity context: namespace "default"
    first = env.run(seal_results, RESULTS[:2])
    second = env.run(seal_results, RESULTS[2:])

    assert env.run(open_sealed_results, [first, second]) == RESULTS
    assert env.run(open_sealed_results, []) == []

    path = store.directory / f"{second}.json"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(ApplicationError) as refused:
        env.run(open_sealed_results, [first, second])
    assert refused.value.type == SEALED_RESULTS_UNREADABLE and refused.value.non_retryable
    # A missing chunk is an ordinary failure: retried (the store may be mounting), never skipped.
    path.unlink()
    with pytest.raises(LookupError):
        env.run(open_sealed_results, [first, second])

"""Once the archive holds a closed chain's histories, the results it sealed beside them are
deleted (agents/framework/result_store.forget_chain): a run that failed before opening its chunks
leaves no copy of its results outside Temporal's retention and the archive's."""

from __future__ import annotations

from agents.framework.result_store import ResultStore, chain_folder
from agents.framework.sealed_files import STORE_DIR_ENV
from agents.framework.types import ToolResult
from tests import test_archive
from tests.test_archive import archived, decided_loan

archive_from_now = test_archive.archive_from_now  # the fixture, shared with the archive's tests

RESULT = ToolResult(call_id="call_1", name="loans.credit_bureau", ok=True, result={"score": 712})


def test_archiving_a_chain_deletes_its_sealed_results_and_no_one_elses(
    temporal, archive_from_now, tmp_path, monkeypatch
):
    monkeypatch.setenv(STORE_DIR_ENV, str(tmp_path))
    store = ResultStore.from_env("default")
    handle = decided_loan(temporal, archive_from_now)
    # As a chain that failed before opening them would have left them.
    store.seal([RESULT], handle.id)
    running = store.seal([RESULT], "loan-still-running")

    archived(handle.id)

    assert not chain_folder(store.directory, handle.id).exists()
    assert store.open(running, "loan-still-running") == [RESULT]

"""`make dev`'s Temporal dev server keeps its state in write-ahead-log mode (issue 12: a burst of
starts waits on its one SQLite writer, which a full fsync per commit held about twice as long)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client

from reviewer_portal.operations.management.commands import devstack
from tests.processes import free_port

pytestmark = pytest.mark.once  # Temporal's store, not the portal's database

WAL = 2  # the file format version SQLite writes at bytes 18 and 19 of a database in WAL mode


def test_the_dev_server_that_make_dev_starts_keeps_its_state_in_wal_mode(tmp_path, monkeypatch):
    port = free_port()
    monkeypatch.setattr(devstack, "TEMPORAL_PORT", port)
    monkeypatch.setattr(devstack, "TEMPORAL_UI_PORT", free_port())
    monkeypatch.setattr(devstack, "STATE_DIR", str(tmp_path))
    monkeypatch.setattr(devstack.Command, "ensure_namespace", lambda self, namespace: None)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "")  # restored after: ensure_temporal points it here
    stack = devstack.Command()
    stack.children = []
    try:
        stack.ensure_temporal()
        asyncio.run(_start_a_run(f"127.0.0.1:{port}"))  # the server has written to its store

        store = tmp_path / "temporal.db"
        header = store.read_bytes()[:100]
        assert header.startswith(b"SQLite format 3\x00")
        assert (header[18], header[19]) == (WAL, WAL), "the dev server's store is not in WAL mode"
        assert Path(f"{store}-wal").exists()
    finally:
        stack.stop_children()


async def _start_a_run(address: str) -> None:
    client = await _connect_once_healthy(address)
    await client.start_workflow("AnyWorkflow", id="wal-check", task_queue="nobody-polls")


async def _connect_once_healthy(address: str, timeout: float = 60.0) -> Client:
    """The server's port answers a little before its frontend does ("Frontend is not healthy
    yet"): `make dev` waits for it in ensure_namespace, which this test leaves out, so it waits
    here (CI saw the connect fail once on a loaded machine)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await Client.connect(address)
        except RuntimeError as err:
            if "not healthy yet" not in str(err) or asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(0.2)

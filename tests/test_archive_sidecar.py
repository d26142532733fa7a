"""Who holds the key that signs the archive chain (reviewer_portal/operations/management/commands/
run_worker.py). The archiving workflow signs it with the portal's key, the one that signs reviewer
actions. A worker asked to run it without that key used to start and fail every append, quietly,
while runs fell out of Temporal's retention unarchived: it now refuses to start, and says how to
run it apart (`--archive-only`). A production worker running agent code that holds the key is
warned about: any tool there could sign reviewer actions."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reviewer_portal.trust.archive_key import new_archive_key
from reviewer_portal.trust.keys import generate
from tests.conftest import production_env

pytestmark = pytest.mark.once  # nothing here depends on the database or channel layer: CI runs it in one pass

ROOT = Path(__file__).resolve().parent.parent
NO_TEMPORAL = "127.0.0.1:9"
WARNING = "runs agent code and holds the portal's signing key"
ARCHIVE_WARNING = "signs the archive chain with the portal's signing key"


def run_worker(*args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "run_worker", *args],
        cwd=ROOT,
        env=production_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_archiver_without_the_signing_key_refuses_to_start(db):
    worker = run_worker(PORTAL_SIGNING_KEY=None, ARCHIVE_SIGNING_KEY=None, TEMPORAL_ADDRESS=NO_TEMPORAL)
    output = worker.stdout + worker.stderr
    assert worker.returncode != 0
    assert "The archiving workflow signs the archive chain with the archive's key" in output
    assert "signing_key archive-key" in output
    assert "run_worker --archive-only" in output
    assert "Worker: namespace" not in output  # refused before any worker started


def test_agent_workers_without_the_key_start_and_the_archive_only_one_with_it(db, temporal):
    published = json.dumps([{"key_id": "published", "public_key": generate().public_key}])
    agents = run_worker(
        "--no-archive", PORTAL_SIGNING_KEY=None, PORTAL_PUBLIC_KEYS=published, TEMPORAL_ADDRESS=NO_TEMPORAL
    )
    # Started: it gets as far as connecting (to nothing here), with no word about the key; it
    # takes actions signed by the published key only (tests/test_worker_keyring.py).
    assert "Worker: reviewer actions signed by published only" in agents.stdout
    assert "The archiving workflow signs" not in agents.stdout + agents.stderr
    assert WARNING not in agents.stdout + agents.stderr
    assert "loans" in agents.stdout and "the archiving workflow" not in agents.stdout

    # The archiving sidecar holds the archive's own key and not the portal's.
    archive_key = new_archive_key(generate(key_id="portal-elsewhere"), key_id="archive-test").to_json()
    keyring = json.dumps([{"key_id": "portal-elsewhere", "public_key": generate().public_key}])
    env = production_env(
        PORTAL_SIGNING_KEY=None,
        ARCHIVE_SIGNING_KEY=archive_key,
        PORTAL_PUBLIC_KEYS=keyring,  # to verify the chain with
        TEMPORAL_ADDRESS=temporal.address,
    )
    archiver = subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--archive-only"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # Stopped once it says what it serves (under CI's load that took over 5 s, a fixed wait),
        # and has had a moment to set its signal handlers (just after that line).
        started = _lines_until(archiver, "Worker: namespace", timeout=60)
        time.sleep(3)
        archiver.send_signal(signal.SIGTERM)
        rest, _ = archiver.communicate(timeout=40)
        output = "".join(started) + rest
    finally:
        archiver.kill()
    assert "the archiving workflow" in output and ", LLM " not in output  # no agent worker
    assert WARNING not in output and ARCHIVE_WARNING not in output and "Worker stopped cleanly." in output


def test_an_archiver_signing_with_the_portals_key_is_told_to_use_its_own(db):
    worker = run_worker("--archive-only", ARCHIVE_SIGNING_KEY=None, TEMPORAL_ADDRESS=NO_TEMPORAL)

    # It runs, as before the archive had a key (records it appended verify as they did).
    assert ARCHIVE_WARNING in worker.stderr and "signing_key archive-key" in worker.stderr


def test_a_production_worker_running_agents_with_the_key_is_warned_about(db):
    worker = run_worker(PORTAL_SIGNING_KEY=generate(key_id="held").to_json(), TEMPORAL_ADDRESS=NO_TEMPORAL)
    assert WARNING in worker.stderr


def test_archive_only_with_agents_is_refused(db):
    worker = run_worker("--archive-only", "--domain", "loans", TEMPORAL_ADDRESS=NO_TEMPORAL)
    assert worker.returncode != 0 and "--archive-only serves no agent" in worker.stdout + worker.stderr


def test_a_key_file_that_is_not_there_is_no_key(db, tmp_path):
    missing = tmp_path / "portal-signing.json"
    worker = run_worker(
        PORTAL_SIGNING_KEY=None, PORTAL_SIGNING_KEY_FILE=str(missing), TEMPORAL_ADDRESS=NO_TEMPORAL
    )
    output = worker.stdout + worker.stderr
    # Said by name at start (it was a FileNotFoundError traceback), before any worker started.
    assert (
        worker.returncode != 0 and f"PORTAL_SIGNING_KEY_FILE names {missing}, which cannot be read" in output
    )


def test_an_agent_worker_with_neither_key_nor_keyring_refuses_to_start(db, tmp_path):
    bare = run_worker("--no-archive", PORTAL_SIGNING_KEY=None, TEMPORAL_ADDRESS=NO_TEMPORAL)
    unreadable = run_worker(
        "--no-archive",
        PORTAL_SIGNING_KEY=None,
        PORTAL_PUBLIC_KEYS_FILE=str(tmp_path / "keyring.json"),
        TEMPORAL_ADDRESS=NO_TEMPORAL,
    )

    # Without the portal's public keys a worker could not tell its signed actions from anyone's.
    assert bare.returncode != 0 and "set PORTAL_PUBLIC_KEYS_FILE" in bare.stderr + bare.stdout
    assert "signing_key public" in bare.stderr + bare.stdout
    assert (
        unreadable.returncode != 0 and "keyring.json cannot be read" in unreadable.stderr + unreadable.stdout
    )
    assert "Worker: namespace" not in bare.stdout + unreadable.stdout  # refused before any worker started


def _lines_until(process: subprocess.Popen[str], text: str, *, timeout: float) -> list[str]:
    """The lines `process` printed up to the first holding `text` (or its exit, or `timeout`)."""
    assert process.stdout is not None
    deadline, lines = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if not line or text in line:
            break
    return lines


def test_an_archiver_without_the_portals_public_keys_refuses_to_start(db):
    archive_key = new_archive_key(generate(key_id="portal-elsewhere")).to_json()
    worker = run_worker(
        "--archive-only",
        PORTAL_SIGNING_KEY=None,
        ARCHIVE_SIGNING_KEY=archive_key,
        TEMPORAL_ADDRESS=NO_TEMPORAL,
    )

    # It could sign, but not check the chain before a purge: every purge would fail.
    assert worker.returncode != 0 and "set PORTAL_PUBLIC_KEYS_FILE" in worker.stdout + worker.stderr

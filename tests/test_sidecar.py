"""The worker sidecar and the demo command as the dev stack runs them: real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from temporalio.client import WorkflowUpdateFailedError

from agents.framework.registry import AGENTS
from reviewer_portal.inbox.models import Gate
from reviewer_portal.operations.management.commands.seed_demo import _demo_workflow_id, demo_users
from reviewer_portal.trust.signer import sign_action
from tests import actions
from tests.conftest import loan_input, manage_py, production_env, projected_gate, start_loan, wait_for_gate
from tests.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, env: dict[str, str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def test_run_worker_serves_its_queue_keeps_the_key_out_of_logs_and_stops_on_sigterm(temporal, tmp_path):
    queue = f"sidecar-{uuid.uuid4().hex[:8]}"
    with FakeOpenAI() as provider:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'sidecar.sqlite3'}",
            "TEMPORAL_ADDRESS": temporal.address,
            "OPENAI_API_KEY": "sk-sidecar-secret",
            "OPENAI_BASE_URL": provider.base_url,
            # production's mode (DEBUG off): the workflow modules imported once for all runs
            "WORKFLOW_SANDBOX": "shared",
        }
        assert manage("migrate", "-v0", env=env).wait(60) == 0
        worker = manage("run_worker", "--task-queue", queue, env=env)
        try:
            handle = start_loan(temporal, queue, loan_input())
            gate = wait_for_gate(temporal, handle)
            # The first bad signature this worker process meets is checked in its sandbox: it is
            # refused, and the process lives on (cryptography once aborted it there).
            signed = sign_action(
                "decide", actions.decide_input(gate.gate_id), workflow_id=handle.id, update_id="u"
            )
            with pytest.raises(WorkflowUpdateFailedError, match="update failed"):
                actions.send(
                    temporal, handle, "decide", replace(signed, reason="altered"), update_id="u", signed=False
                )
            assert worker.poll() is None
            worker.send_signal(signal.SIGTERM)
            output, _ = worker.communicate(timeout=40)
        finally:
            worker.kill()
        temporal.run(handle.terminate("test done"))

    assert worker.returncode == 0, output
    assert f"task queue {queue}" in output and "Worker stopped cleanly." in output
    assert "Worker: workflow sandbox shared (WORKFLOW_SANDBOX)" in output
    assert "sk-sidecar-secret" not in output
    assert gate.model == "fake-gpt" and gate.recommendation.outcome == "approve"
    assert provider.auth_headers[0] == "Bearer sk-sidecar-secret"


def test_run_worker_refuses_an_unknown_domain(temporal):
    env = {**os.environ, "TEMPORAL_ADDRESS": temporal.address}
    worker = manage("run_worker", "--domain", "crypto", env=env)
    output, _ = worker.communicate(timeout=60)
    assert worker.returncode != 0 and "Unknown domain(s): crypto. Known:" in output and "loans" in output


def test_an_unknown_sandbox_mode_is_refused_when_the_settings_are_read_before_a_worker_connects():
    env = {**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:9", "WORKFLOW_SANDBOX": "off"}
    worker = manage("run_worker", env=env)
    output, _ = worker.communicate(timeout=60)
    assert worker.returncode != 0
    assert "WORKFLOW_SANDBOX must be strict or shared, not 'off'." in output


@pytest.mark.parametrize(
    "value", ["yesterday", "2026-11-29T09:00:00", "2026-11-29", "2026-13-01T00:00:00+00:00"]
)
def test_a_malformed_rollout_time_for_seals_is_refused_before_a_worker_connects(value):
    """Read wrongly, a rollout time would let forged runs through (too late) or fail real ones
    (too early): a time without a zone, or not a time at all, stops the worker, naming the setting."""
    env = {**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:9", "WORKER_UNSEALED_BEFORE": value}
    worker = manage("run_worker", "--no-archive", env=env)
    output, _ = worker.communicate(timeout=60)
    assert worker.returncode != 0
    assert f"WORKER_UNSEALED_BEFORE must be an ISO 8601 time with a zone, not {value!r}." in output
    assert "need no seal" not in output


def test_a_rollout_time_for_seals_with_a_zone_is_taken_and_said():
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": "127.0.0.1:9",
        "WORKER_UNSEALED_BEFORE": "2026-11-29T09:00:00+01:00",
    }
    worker = manage("run_worker", "--no-archive", env=env)
    output, _ = worker.communicate(timeout=60)
    assert (
        "Worker: runs created and activities scheduled before 2026-11-29T09:00:00+01:00 need no seal"
        in output
    )
    assert "WORKER_UNSEALED_BEFORE must be" not in output


# Every agent's demo runs start at once on the test's one worker: on a loaded CI machine the
# last of them reach their gates well after the first (one CI run passed 30 s).
SEEDED_RUNS_TIMEOUT = 90


def test_seed_demo_creates_the_demo_users_and_waiting_gates_once(temporal, portal, settings):
    settings.DEBUG = True  # demo users exist only in development
    call_command("seed_demo")
    call_command("seed_demo")  # `make dev` runs it on every start

    usernames = set(User.objects.values_list("username", flat=True))
    # Each agent names its roles' demo users: the portal keeps no list of them.
    assert usernames == {*demo_users(), "admin"}
    assert usernames >= {"officer", "senior", "compliance", "adviser", "auditor", "budget", "support"}
    officer = User.objects.get(username="officer")
    assert officer.check_password("demo") and list(officer.groups.values_list("name", flat=True)) == [
        "credit_officer"
    ]
    assert User.objects.get(username="admin").is_superuser
    loan_demos = AGENTS["loans"].demo_cases()
    for demo in loan_demos:
        handle = temporal.client.get_workflow_handle(_demo_workflow_id(AGENTS["loans"], demo.key))
        assert handle.id.startswith("loan-")
        assert projected_gate(handle, timeout=SEEDED_RUNS_TIMEOUT).status == "pending"
    loans = Gate.objects.filter(agent="loans")
    assert loans.filter(status="pending").count() == len(loan_demos)  # once, not twice
    assert {g.recommendation for g in loans} == {"approve", "decline", "refer"}
    advice_demos = AGENTS["advice"].demo_cases()
    for demo in advice_demos:
        handle = temporal.client.get_workflow_handle(
            f"advice-{uuid.uuid5(uuid.NAMESPACE_URL, f'demo-advice:{demo.key}')}"
        )
        assert projected_gate(handle, timeout=SEEDED_RUNS_TIMEOUT).agent == "advice"
    assert Gate.objects.filter(agent="advice").count() == len(advice_demos)
    findings = Gate.objects.filter(agent="regulatory", role="compliance_reviewer", status="pending")
    poll_until(findings.exists)
    assert findings.exists()  # the demo brochure's review waits on a compliance finding
    # An agent's own demo cases and demo user (agents/finops): the over-budget team waits for one.
    increases = Gate.objects.filter(agent="finops", role="budget_approver")
    poll_until(increases.exists)
    assert increases.count() == 1 and "search" in increases.get().subject
    assert list(User.objects.get(username="budget").groups.values_list("name", flat=True)) == [
        "budget_approver"
    ]


def test_check_deploy_passes_with_production_settings():
    check = manage_py("check", "--deploy", "--fail-level", "WARNING", env=production_env())

    assert check.returncode == 0, check.stdout + check.stderr
    assert "no issues" in check.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"} | {"DEBUG": "false"}
    check = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert check.returncode != 0 and "SECRET_KEY" in check.stderr


def poll_until(ready, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready() and time.monotonic() < deadline:
        time.sleep(0.2)


def test_seed_demo_runs_without_the_loans_agent(temporal, tmp_path):
    """A deployment of other teams' agents only: seed_demo used to raise KeyError('loans')."""
    env = {
        **os.environ,
        "AGENT_PACKAGES": "agents.advice",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "TEMPORAL_ADDRESS": temporal.address,
        "TEMPORAL_TASK_QUEUE": f"nobody-{uuid.uuid4().hex[:8]}",  # started, never run
    }
    migrate = manage_py("migrate", "--noinput", env=env)
    seeded = manage_py("seed_demo", env=env)

    assert migrate.returncode == 0, migrate.stderr[-2000:]
    assert seeded.returncode == 0, seeded.stderr[-2000:]
    assert "Demo advice case:" in seeded.stdout and "Demo loan application" not in seeded.stdout

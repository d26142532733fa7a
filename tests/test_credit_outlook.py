"""The future credit analysis agent: the borrower's history is prepared once, each inference is an
activity of its own, a risky outlook waits for a credit analyst, a bad case is refused with why,
and a worker killed between inferences neither runs a finished inference again nor prepares the
history again. On the real dev server; the kill test runs the real worker sidecar."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import ApplicationError

from agents.credit_outlook import CREDIT_ANALYST, CREDIT_OUTLOOK_AGENT, WATCHLIST_GATE, tools
from agents.credit_outlook.demo import DETERIORATING, STEADY, Borrower
from agents.credit_outlook.executions import EXECUTIONS_DIR_ENV, INFERENCE_DELAY_ENV, executions
from agents.credit_outlook.features import PREPARE, features_of
from agents.credit_outlook.offline import outlook_policy
from agents.credit_outlook.presentation import outlook_flags
from agents.framework.contract import UNPROCESSABLE
from tests import actions
from tests.conftest import (
    activity_names,
    agent_input_for,
    logged_in,
    make_user,
    projected_gate,
    record_history,
    start_run,
    wait_for_gate,
)
from tests.conftest import decide as decide_in_portal
from tests.harness import TemporalHarness
from tests.test_durability import ROOT, completed_activities, wait_for_open_gate

pytestmark = pytest.mark.once  # an agent on Temporal, not the portal's database: one CI pass

ANALYST = [CREDIT_ANALYST]
KILL_DEADLINE = 120
# Slow enough to kill the worker while an inference runs, fast enough for a short test.
INFERENCE_SECONDS = "2"


def start(
    temporal: TemporalHarness, queue: str, case: dict, subject: str = "Credit outlook"
) -> WorkflowHandle:
    agent_input = agent_input_for(CREDIT_OUTLOOK_AGENT, subject, case, submitted_by="portfolio-desk")
    return start_run(temporal, queue, agent_input, prefix="credit-outlook")


def steady_but(**changes: object) -> dict:
    return {**STEADY.case(), **changes}


def inference_order(names: list[str]) -> list[str]:
    return [n for n in names if n in (PREPARE, *tools.INFERENCES)]


# --- on the dev server ----------------------------------------------------------------------------


def test_a_steady_borrower_gets_a_stable_outlook_without_a_gate(temporal, worker):
    handle = start(temporal, worker, STEADY.case(), STEADY.subject)

    result = temporal.run(handle.result(), timeout=60)

    assert (result.outcome, result.action["outcome"], result.gates) == ("completed", "stable", [])
    assert result.action["watchlist"] is None and result.action["borrower"] == "Amira Haddad"
    # Prepared once, then each inference its own activity, one after another.
    assert inference_order(activity_names(temporal, handle)) == [PREPARE, *tools.INFERENCES]
    pd = result.action["inferences"][tools.DEFAULT]
    assert 0 < pd["default_probability_12m"] < pd["default_probability_24m"] < pd["default_probability_36m"]
    assert f"{pd['default_probability_36m']:.1%}" in result.action["rationale"]
    record_history(temporal, handle, "credit_outlook_stable")


def test_a_deteriorating_borrower_waits_for_an_analyst_then_the_outlook_is_published(temporal, worker):
    handle = start(temporal, worker, DETERIORATING.case(), DETERIORATING.subject)
    gate = wait_for_gate(temporal, handle)

    assert (gate.role, gate.kind, gate.tool_call.name) == (CREDIT_ANALYST, WATCHLIST_GATE, tools.WATCHLIST)
    assert gate.subject == "Credit outlook: Tomasz Nowak: watchlist at 86 % default risk in 3 years"
    # The analyst reads features, not the raw history, and the flags come from them.
    assert "income_history" not in gate.case and gate.case["missed_payments"] == 2
    assert any("Income is falling" in flag for flag in outlook_flags(gate.case, {}, {}))
    proposed = gate.tool_call.arguments
    assert proposed["default_probability_36m"] >= 0.15
    assert f"{proposed['default_probability_36m']:.1%}" in gate.recommendation.rationale
    actions.decide(
        temporal, handle, gate.gate_id, reason="Agreed, review quarterly.", reviewer="analyst", roles=ANALYST
    )
    result = temporal.run(handle.result(), timeout=60)

    assert (result.outcome, result.action["outcome"]) == ("completed", "deteriorating")
    assert result.action["watchlist"] == {
        "status": "approved",
        "decided_by": "analyst",
        "reason": "Agreed, review quarterly.",
    }
    assert (
        result.action["inferences"][tools.DEFAULT]["default_probability_36m"]
        == proposed["default_probability_36m"]
    )
    assert Counter(activity_names(temporal, handle))[tools.WATCHLIST] == 1
    record_history(temporal, handle, "credit_outlook_watchlist_approved")


def test_an_analyst_who_declines_the_watchlist_is_quoted_in_the_outlook(temporal, worker):
    handle = start(temporal, worker, DETERIORATING.case())
    gate = wait_for_gate(temporal, handle)
    actions.decide(
        temporal, handle, gate.gate_id, "reject", "Risk mitigated by a guarantee", "analyst", ANALYST
    )

    result = temporal.run(handle.result(), timeout=60)

    assert result.action["outcome"] == "deteriorating" and result.action["watchlist"]["status"] == "rejected"
    assert "declined the watchlist" in result.action["rationale"]
    assert tools.WATCHLIST not in activity_names(temporal, handle)


def test_the_analyst_reads_the_figures_and_flags_and_decides_in_the_portal(temporal, portal):
    handle = start(temporal, portal, DETERIORATING.case(), DETERIORATING.subject)
    gate = projected_gate(handle)
    client = logged_in(make_user("analyst", CREDIT_ANALYST))

    page = client.get(f"/gates/{gate.gate_id}/").content.decode()
    response = decide_in_portal(client, gate, reason="Agreed.")

    assert "Proposed action: Place on watchlist" in page and "Queue: Credit analyst" in page
    assert "Income is falling (-4.5% a month) while the balance grows (2.7% a month)." in page
    assert "Instalment to income" in page and "32.86 %" in page  # a prepared feature, as a percent
    assert "Outlook not credible" in page  # the gate kind's rejection grounds
    assert "Approval recorded by the agent." in response.content.decode()
    assert temporal.run(handle.result(), timeout=60).action["watchlist"]["status"] == "approved"


HISTORIES = ("income_history", "balance_history", "repayment_history")
BAD_CASES = {
    "negative income": (steady_but(income_history=[-100.0] * 12), "history month 1 must be between"),
    "absurd exposure": (steady_but(exposure=1e300), "exposure must be between"),
    "not a number": (steady_but(monthly_payment="lots"), "monthly payment is not a number"),
    "missing history": (steady_but(repayment_history=None), "no repayment history"),
    "missing exposure": ({k: v for k, v in STEADY.case().items() if k != "exposure"}, "has no exposure"),
    "histories disagree": (steady_but(balance_history=[1.0] * 7), "same months"),
    "too short a history": (steady_but(**dict.fromkeys(HISTORIES, [1.0] * 3)), "cover 6 to 60 months"),
    "bidi override in name": (steady_but(borrower="Ann\u202eeM"), "invisible characters"),
    "no borrower": (steady_but(borrower="  "), "names no borrower"),
}


def test_bad_cases_are_refused_with_the_reason_and_never_retried(temporal, worker):
    handles = {name: start(temporal, worker, case) for name, (case, _) in BAD_CASES.items()}

    for name, handle in handles.items():
        result = temporal.run(handle.result(), timeout=60)
        assert (result.outcome, result.gates) == (UNPROCESSABLE, []), name
        assert BAD_CASES[name][1] in result.action["reason"], name
        history = temporal.run(handle.fetch_history())
        attempts = [
            e.activity_task_started_event_attributes.attempt
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        ]
        assert attempts == [1], name  # the prepare step, once: nothing else ran


def test_odd_but_real_names_and_no_income_at_all_are_assessed(temporal, worker):
    named = start(temporal, worker, steady_but(borrower="Zoë Ñúñez-李小龍 O\u2019Brien"))
    jobless = Borrower("Ōta Kenji", 500, 0, 0, 9_000, 100)
    gated = start(temporal, worker, jobless.case())

    assert temporal.run(named.result(), timeout=60).action["borrower"] == "Zoë Ñúñez-李小龍 O\u2019Brien"
    gate = wait_for_gate(temporal, gated)
    assert gate.case["payment_to_income"] == 10.0 and gate.tool_call.name == tools.WATCHLIST


# --- without a server -----------------------------------------------------------------------------


def test_an_implausible_figure_from_the_model_is_refused_for_good():
    with pytest.raises(ApplicationError) as refused:
        asyncio.run(tools.default_probability(tools.DefaultArgs(math.inf, 0, 0, 0, 0)))
    assert refused.value.non_retryable and "payment to income is not a number" in refused.value.message


def test_a_failed_inference_makes_the_agent_refer():
    case = {"role": "user", "content": json.dumps(features_of(STEADY.case()))}
    call = {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": tools.INCOME}}]}
    failure = {
        "role": "tool",
        "tool_call_id": "c1",
        "content": '{"error": "The income now is not a number."}',
    }

    answer = json.loads(outlook_policy([case, call, failure])["content"])

    assert answer["outcome"] == "refer" and "income now is not a number" in answer["rationale"]


# --- a worker killed between inferences -----------------------------------------------------------


def start_worker(queue: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "w") as out:  # a pipe nobody reads would fill up and stall the worker
        return subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", "--task-queue", queue, "--domain", "credit_outlook"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_between_inferences(
    temporal: TemporalHarness, handle: WorkflowHandle, worker: subprocess.Popen
) -> None:
    """Return while an inference runs and at least one has completed."""

    async def poll() -> None:
        async with asyncio.timeout(KILL_DEADLINE):
            while True:
                assert worker.poll() is None, "the worker exited before it was killed"
                done = {name for name, _ in completed_activities(await handle.fetch_history())}
                finished = len(done & set(tools.INFERENCES))
                assert finished < len(tools.INFERENCES), "all inferences ran before the kill"
                if finished:
                    pending = (await handle.describe()).raw_description.pending_activities
                    if any(
                        a.activity_type.name in tools.INFERENCES
                        and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                        for a in pending
                    ):
                        return
                await asyncio.sleep(0.05)

    temporal.run(poll(), timeout=KILL_DEADLINE + 10)


@pytest.fixture
def sidecar_env(temporal: TemporalHarness, tmp_path: Path) -> dict[str, str]:
    """The sidecar's environment: the test server, a migrated SQLite file, the offline model, and
    the counters and pace of this test. Every registered agent, as deployed (`manage.py check` wants
    each gate role declared); `--domain` serves this one."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite3'}",
        "TEMPORAL_ADDRESS": temporal.address,
        "OPENAI_API_KEY": "",
        EXECUTIONS_DIR_ENV: str(tmp_path / "executions"),
        INFERENCE_DELAY_ENV: INFERENCE_SECONDS,
    }
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    return env


def test_a_worker_killed_between_inferences_runs_no_finished_one_again(temporal, tmp_path, sidecar_env):
    queue = f"credit-outlook-{uuid.uuid4().hex[:10]}"
    first = start_worker(queue, sidecar_env, tmp_path / "worker1.log")
    second = None
    handle = start(temporal, queue, DETERIORATING.case(), DETERIORATING.subject)
    try:
        wait_between_inferences(temporal, handle, first)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        before_kill = {name for name, _ in completed_activities(temporal.run(handle.fetch_history()))}

        second = start_worker(queue, sidecar_env, tmp_path / "worker2.log")
        gate = wait_for_open_gate(temporal, handle)
        actions.decide(temporal, handle, gate.gate_id, reason="Agreed.", reviewer="analyst", roles=ANALYST)
        result = temporal.run(handle.result(), timeout=120)
        second.send_signal(signal.SIGTERM)
        second.wait(60)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(30)
        if temporal.run(handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            temporal.run(handle.terminate("test failed"))
        for log in ("worker1.log", "worker2.log"):  # shown by pytest only when the test fails
            if (tmp_path / log).exists():
                print(f"--- {log}\n{(tmp_path / log).read_text()}")

    ran = executions(Path(sidecar_env[EXECUTIONS_DIR_ENV]), handle.id)
    finished_before = [name for name in tools.INFERENCES if name in before_kill]
    assert PREPARE in before_kill and 1 <= len(finished_before) < len(tools.INFERENCES)
    # The history was prepared once and every inference that had finished never ran again; the
    # one cut off may have run twice (at least once: its completion never reached Temporal).
    assert ran[PREPARE] == 1
    assert {name: ran[name] for name in finished_before} == dict.fromkeys(finished_before, 1)
    assert all(ran[name] >= 1 for name in tools.INFERENCES)
    completed = Counter(name for name, _ in completed_activities(temporal.run(handle.fetch_history())))
    assert all(completed[name] == 1 for name in (PREPARE, *tools.INFERENCES, tools.WATCHLIST, tools.PUBLISH))
    # The outlook uses all three inferences, and the analyst's decision.
    assert all(result.action["inferences"][name] for name in tools.INFERENCES)
    figures = result.action["inferences"][tools.DEFAULT]
    assert figures["default_probability_36m"] == gate.tool_call.arguments["default_probability_36m"]
    assert (result.action["outcome"], result.action["watchlist"]["status"]) == ("deteriorating", "approved")
    assert ran[tools.WATCHLIST] == 1 and ran[tools.PUBLISH] == 1 and second.returncode == 0

"""The fraud detection agent: its model, its input checks and its rules without a server, then
whole runs on the real dev server (in-process workers, and a worker subprocess killed mid-run),
with the real scikit-learn model or a real loopback HTTP scorer; nothing is mocked."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowHistory
from temporalio.service import RPCError

from agents.framework.contract import UNPROCESSABLE
from agents.framework.offline_model import _completion, tool_results
from agents.framework.types import AgentOutcome, GateSnapshot, Recommendation, ToolResult
from agents.framework.workflow import AgentWorkflow
from agents.fraud import FRAUD_AGENT, FRAUD_ANALYST, FRAUD_REVIEW
from agents.fraud.demo import DEMO_TRANSACTIONS
from agents.fraud.features import FeatureVector, Transaction, features_of
from agents.fraud.model import MODEL_FILE, model_in, trained_model_bytes, version_of
from agents.fraud.offline import fraud_policy
from agents.fraud.remote import MAX_RETRY_AFTER_SECONDS, status_failure
from agents.fraud.rules import BLOCK, FEATURES, REVIEW_THRESHOLD, RULES, SCORE, disposition
from agents.fraud.tools import MODEL_DIR_ENV, SCORER_URL_ENV
from agents.fraud.transaction import TransactionRefused, checked_transaction, clean_merchant
from tests.actions import decide
from tests.conftest import ROOT, agent_input_for, record_history, start_run, wait_for_gate

pytestmark = pytest.mark.once  # the database is not what it tests: one CI pass

FINE, FINE_TOO, SUSPECT, SUSPECT_TOO = DEMO_TRANSACTIONS
STEPS = (FEATURES, SCORE, RULES)


@pytest.fixture(scope="module", autouse=True)
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The model trains into a folder of the tests' own (workers and subprocesses read it)."""
    folder = tmp_path_factory.mktemp("fraud-model")
    saved = os.environ.get(MODEL_DIR_ENV)
    os.environ[MODEL_DIR_ENV] = str(folder)
    yield folder
    if saved is None:
        del os.environ[MODEL_DIR_ENV]
    else:
        os.environ[MODEL_DIR_ENV] = saved


def file_version(folder: Path) -> str:
    return "sha256:" + hashlib.sha256((folder / MODEL_FILE).read_bytes()).hexdigest()


def start(temporal: Any, queue: str, case: dict[str, Any] | Transaction) -> WorkflowHandle:
    case = asdict(case) if isinstance(case, Transaction) else case
    subject = f"Transaction {case.get('transaction_id', '?')}"
    return start_run(temporal, queue, agent_input_for(FRAUD_AGENT, subject, case), prefix="fraud")


def step_counts(history: WorkflowHistory, kind: str) -> Counter[str]:
    """How many `kind` ('scheduled', 'started', 'completed') events each activity type has."""
    names = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    if kind == "scheduled":
        return Counter(names.values())
    field = f"activity_task_{kind}_event_attributes"
    return Counter(names[getattr(e, field).scheduled_event_id] for e in history.events if e.HasField(field))


def score_attempts(history: WorkflowHistory) -> list[int]:
    """The attempt number of each completed score (retries share one scheduled event)."""
    scores = {
        e.event_id
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == SCORE
    }
    return [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and e.activity_task_started_event_attributes.scheduled_event_id in scores
    ]


class Loopback:
    """A real HTTP server on 127.0.0.1; `answer(body)` gives each POST's status, headers and body.
    Arrival times are kept, to measure the waits between attempts."""

    def __init__(self, answer: Callable[[dict[str, Any]], tuple[int, dict[str, str], dict[str, Any]]]):
        self.arrivals: list[float] = []
        loopback = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                loopback.arrivals.append(time.monotonic())
                status, headers, body = answer(
                    json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                )
                payload = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    for name, value in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except ConnectionError:
                    pass  # the worker that asked was killed

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- the model, the checks and the rules, without a server -----------------------------------------


def test_the_same_seed_trains_the_same_model_file_and_another_seed_another():
    started = time.monotonic()
    first = trained_model_bytes(seed=7)
    elapsed = time.monotonic() - started

    assert trained_model_bytes(seed=7) == first
    assert version_of(trained_model_bytes(seed=8)) != version_of(first)
    assert json.loads(first)["training"]["train_auc"] > 0.85
    print(f"trained in {elapsed:.2f} s")


def test_the_model_version_is_the_sha256_of_the_file_it_was_loaded_from(model_dir):
    model = model_in(model_dir)

    assert model.version == file_version(model_dir) == version_of(trained_model_bytes())
    assert model_in(model_dir) is model  # loaded once per process
    assert model_in(model_dir) is model  # loaded once per process, not per score
    assert model.score(features_of(FINE)).probability < REVIEW_THRESHOLD
    assert model.score(features_of(SUSPECT)).probability >= REVIEW_THRESHOLD


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"amount": -25.0}, "amount must be a positive number"),
        ({"amount": 0}, "amount must be a positive number"),
        ({"amount": float("nan")}, "amount must be a positive number"),
        ({"amount": float("inf")}, "no card transaction reaches"),
        ({"amount": 10**400}, "no card transaction reaches"),
        ({"amount": "12.50"}, "amount must be a number"),
        ({"amount": True}, "amount must be a number"),
        ({"merchant": "\u202e\u200b\x00"}, "merchant has no printable characters"),
        ({"merchant": None, "hour": None}, "lacks merchant, hour"),
        ({"hour": 24}, "hour must be between 0 and 23"),
        ({"card_age_days": 1.5}, "card_age_days must be a whole number"),
        ({"card_country": "Britain"}, "card_country must be a two-letter country code"),
        ({"transaction_id": "x" * 65}, "transaction_id must be 1 to 64"),
    ],
)
def test_a_transaction_that_cannot_be_scored_is_refused_saying_why(change, refusal):
    with pytest.raises(TransactionRefused, match=refusal):
        checked_transaction({**asdict(FINE), **change})


def test_a_transaction_missing_its_fields_is_refused_naming_them():
    with pytest.raises(TransactionRefused, match="lacks amount, merchant_category"):
        checked_transaction(
            {k: v for k, v in asdict(FINE).items() if k not in ("amount", "merchant_category")}
        )


def test_odd_unicode_in_a_merchant_name_is_normalised_and_invisible_characters_removed():
    # Full-width letters, a right-to-left override, a zero-width space, a newline and a tab.
    assert clean_merchant("\uff21\uff23\uff2d\u202eE Ltd\u200b\n\tCafé") == "ACME Ltd Café"
    assert clean_merchant("商店 🛒") == "商店 🛒"


@pytest.mark.parametrize(
    ("status", "headers", "retryable", "delay"),
    [
        (429, {"Retry-After": "2"}, True, 2.0),
        (503, {"retry-after-ms": "1500", "Retry-After": "9"}, True, 1.5),
        (429, {"Retry-After": "86400"}, True, MAX_RETRY_AFTER_SECONDS),
        (502, {}, True, None),
        (429, {"Retry-After": "soon"}, True, None),
        (400, {"Retry-After": "2"}, False, None),
        (404, {}, False, None),
    ],
)
def test_a_scorer_failure_is_retried_after_the_delay_it_asks_for_or_refused_for_good(
    status, headers, retryable, delay
):
    failure = status_failure(status, httpx2.Headers(headers), "")

    assert failure.non_retryable is not retryable
    waited = failure.next_retry_delay.total_seconds() if failure.next_retry_delay else None
    assert waited == delay


def outcome_of(answer: str, score: float | None, refer: bool) -> AgentOutcome:
    """A finished run without a gate: the agent's answer, and the score and rules it had."""
    results = (
        []
        if score is None
        else [
            ToolResult("c2", SCORE, ok=True, result={"score": score, "model_version": "sha256:x"}),
            ToolResult("c3", RULES, ok=True, result={"refer": refer}),
        ]
    )
    return AgentOutcome("wf", "s", asdict(FINE), "intake", Recommendation(answer, "why"), [], results)


@pytest.mark.parametrize(
    ("answer", "score", "refer", "disposed"),
    [
        ("legitimate", 0.01, False, "cleared"),
        ("legitimate", 0.97, False, "held"),  # the model skipped the analyst: code holds it
        ("legitimate", 0.01, True, "held"),
        ("refer", 0.01, False, "held"),  # the model was unavailable
        ("legitimate", None, False, "held"),  # never scored
    ],
)
def test_a_transaction_is_cleared_only_when_scored_low_and_no_rule_or_analyst_is_needed(
    answer, score, refer, disposed
):
    assert disposition(outcome_of(answer, score, refer))["disposition"] == disposed


# --- whole runs on the dev server ---------------------------------------------------------------------


def test_below_the_threshold_the_run_completes_without_a_gate_and_records_the_model_version(
    temporal, worker, model_dir
):
    handle = start(temporal, worker, FINE)

    result = temporal.run(handle.result(), timeout=60)

    assert (result.outcome, result.gates, result.action["disposition"]) == ("completed", [], "cleared")
    assert result.action["score"] < REVIEW_THRESHOLD
    assert result.action["model_version"] == file_version(model_dir)
    history = temporal.run(handle.fetch_history())
    assert step_counts(history, "completed") >= Counter({step: 1 for step in STEPS})
    assert BLOCK not in step_counts(history, "scheduled")
    record_history(temporal, handle, "fraud_cleared")


def test_above_the_threshold_a_fraud_analyst_sees_score_and_model_version_and_decides(
    temporal, worker, model_dir
):
    handle = start(temporal, worker, SUSPECT)
    gate = wait_for_gate(temporal, handle)

    assert (gate.role, gate.kind, gate.tool_call.name) == (FRAUD_ANALYST, FRAUD_REVIEW, BLOCK)
    evidence = gate.recommendation.proposal
    assert evidence["score"] >= REVIEW_THRESHOLD and evidence["model_version"] == file_version(model_dir)
    assert any("review threshold" in reason for reason in evidence["reasons"])
    # The score activity's own result is the gate's evidence too, not only the model's proposal.
    [scored] = [r for r in gate.tool_results if r.name == "fraud.score"]
    assert scored.result["model_version"] == file_version(model_dir)
    assert scored.result["score"] == evidence["score"]
    decide(
        temporal,
        handle,
        gate.gate_id,
        reason="Card reported stolen.",
        reviewer="fraud",
        roles=[FRAUD_ANALYST],
    )
    result = temporal.run(handle.result(), timeout=60)

    assert (result.outcome, result.action["disposition"], result.action["decided_by"]) == (
        "completed",
        "blocked",
        "fraud",
    )
    assert result.action["model_version"] == evidence["model_version"]
    assert step_counts(temporal.run(handle.fetch_history()), "completed")[BLOCK] == 1
    record_history(temporal, handle, "fraud_blocked_by_analyst")


def test_adversarial_transactions_are_refused_or_referred_never_retried_in_a_loop(temporal, worker):
    fine = asdict(FINE_TOO)
    refused = {
        "negative": {**fine, "amount": -120.0},
        "absurd": {**fine, "amount": 1e300},
        "missing": {"transaction_id": "TX-9", "amount": 10.0},
        "invisible merchant": {**fine, "merchant": "\u202e\u2066\u200d"},
        "not a number": {**fine, "hour": "3am"},
    }
    handles = {name: start(temporal, worker, case) for name, case in refused.items()}
    huge = start(temporal, worker, {**fine, "transaction_id": "TX-HUGE", "amount": 5_000_000.0})
    odd = start(
        temporal, worker, {**fine, "merchant": "\uff23af\u00e9\u202e \u0644\u0645\u0637\u0639\u0645\u200b"}
    )

    for name, handle in handles.items():
        result = temporal.run(handle.result(), timeout=60)
        assert result.outcome == UNPROCESSABLE, name
        assert result.action["reason"].startswith("Transaction refused: "), name
        history = temporal.run(handle.fetch_history())
        assert step_counts(history, "started") == Counter({"fraud.check_transaction": 1}), name
    gate = wait_for_gate(temporal, huge)
    assert any("beyond what the model learnt from" in r for r in gate.recommendation.proposal["reasons"])
    decide(
        temporal, huge, gate.gate_id, "reject", "Customer confirmed the transaction", "fraud", [FRAUD_ANALYST]
    )
    assert temporal.run(huge.result(), timeout=60).action["disposition"] == "released"
    cleaned = temporal.run(odd.result(), timeout=60)
    assert cleaned.action["disposition"] == "cleared"
    history = temporal.run(odd.fetch_history())
    assert step_counts(history, "completed")[FEATURES] == 1


def test_a_remote_scorer_s_429_is_retried_after_its_retry_after_and_asked_once_more(
    temporal, worker, monkeypatch
):
    answers = iter(
        [
            (429, {"Retry-After": "2"}, {"error": "slow down"}),
            (200, {}, {"score": 0.02, "model_version": "remote-model-7", "drivers": []}),
        ]
    )
    scorer = Loopback(lambda body: next(answers))
    monkeypatch.setenv(SCORER_URL_ENV, scorer.url)
    try:
        handle = start(temporal, worker, FINE)
        result = temporal.run(handle.result(), timeout=60)
    finally:
        scorer.close()

    assert len(scorer.arrivals) == 2
    assert scorer.arrivals[1] - scorer.arrivals[0] >= 2.0
    assert (result.action["disposition"], result.action["model_version"]) == ("cleared", "remote-model-7")
    # One score in history: the activity was scheduled once and completed on its second attempt.
    history = temporal.run(handle.fetch_history())
    assert (step_counts(history, "scheduled")[SCORE], step_counts(history, "completed")[SCORE]) == (1, 1)
    assert score_attempts(history) == [2]


def test_a_scorer_that_keeps_failing_refers_the_transaction_to_an_analyst_unscored(
    temporal, worker, monkeypatch
):
    scorer = Loopback(lambda body: (503, {}, {"error": "down"}))
    monkeypatch.setenv(SCORER_URL_ENV, scorer.url)
    try:
        handle = start(temporal, worker, FINE)
        gate = wait_for_gate(temporal, handle, timeout=60)
    finally:
        scorer.close()

    evidence = gate.recommendation.proposal
    assert (gate.role, evidence["model_version"], evidence["score"]) == (FRAUD_ANALYST, "unscored", 0.0)
    assert any(reason.startswith(f"{SCORE} failed") for reason in evidence["reasons"])
    assert len(scorer.arrivals) == 3  # the tools' retry policy's attempts, then no more
    decide(temporal, handle, gate.gate_id, "reject", "Score driven by a data error", "fraud", [FRAUD_ANALYST])
    result = temporal.run(handle.result(), timeout=60)
    assert (result.action["disposition"], result.action["model_version"]) == ("released", None)


# --- a worker subprocess killed mid-pipeline ------------------------------------------------------------


class HeldModel:
    """The LLM the worker subprocess calls: the offline policy over real HTTP, except that the
    turn after the score is held until the test releases it, so the worker dies mid-pipeline."""

    def __init__(self) -> None:
        self.held, self.released = threading.Event(), threading.Event()
        self.server = Loopback(self.answer)

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        done = tool_results(body["messages"])
        if SCORE in done and RULES not in done and not self.released.is_set():
            self.held.set()
            self.released.wait(120)
        return 200, {}, _completion(body, fraud_policy(body["messages"]))


def start_worker(queue: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "w") as out:  # a pipe nobody reads would fill up and stall the worker
        command = [sys.executable, "manage.py", "run_worker", "--task-queue", queue, "--domain", "fraud"]
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait(temporal: Any, until: Callable[[], Any], timeout: float) -> Any:
    """Poll `until` (a coroutine factory) until it returns something; a query may fail while no
    worker is up."""

    async def poll() -> Any:
        while True:
            try:
                found = await until()
            except RPCError:
                found = None
            if found:
                return found
            await asyncio.sleep(0.2)

    return temporal.run(asyncio.wait_for(poll(), timeout), timeout=timeout + 10)


def test_a_worker_killed_mid_pipeline_resumes_without_scoring_again(temporal, tmp_path, model_dir):
    model = model_in(model_dir)

    def score(body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        scored = model.score(FeatureVector(**body["features"]))
        return 200, {}, {"score": scored.probability, "model_version": model.version, "drivers": []}

    scorer, llm = Loopback(score), HeldModel()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite3'}",
        "TEMPORAL_ADDRESS": temporal.address,
        "OPENAI_API_KEY": "sk-fraud-test",
        "OPENAI_BASE_URL": f"{llm.server.url}/v1",
        SCORER_URL_ENV: scorer.url,
    }
    # Every agent is loaded, as in production (one may need another's roles); `--domain fraud`
    # serves only this one.
    env.pop("AGENT_PACKAGES", None)
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, timeout=120)
    assert migrate.returncode == 0
    queue = f"fraud-kill-{uuid.uuid4().hex[:8]}"
    workers = [start_worker(queue, env, tmp_path / "worker1.log")]
    handle = start(temporal, queue, SUSPECT_TOO)
    try:
        assert llm.held.wait(90), "the pipeline never reached the turn after the score"
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(30)
        before = step_counts(temporal.run(handle.fetch_history()), "completed")
        llm.released.set()
        workers.append(start_worker(queue, env, tmp_path / "worker2.log"))

        gate: GateSnapshot = wait(temporal, lambda: handle.query(AgentWorkflow.gate), 150)
        decide(
            temporal,
            handle,
            gate.gate_id,
            reason="Account takeover.",
            reviewer="fraud",
            roles=[FRAUD_ANALYST],
        )
        result = temporal.run(handle.result(), timeout=60)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(30)
        if temporal.run(handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            temporal.run(handle.terminate("test failed"))
        scorer.close()
        llm.server.close()
        for log in sorted(tmp_path.glob("worker*.log")):  # shown by pytest only when the test fails
            print(f"--- {log.name}\n{log.read_text()}")

    history = temporal.run(handle.fetch_history())
    assert (before[FEATURES], before[SCORE], before[RULES]) == (1, 1, 0)
    # Scored once, on the worker that died: the scorer was asked once, and history holds one
    # attempt of each step; the new worker picked up from the turn in flight.
    assert len(scorer.arrivals) == 1
    for kind in ("scheduled", "started", "completed"):
        assert {step: step_counts(history, kind)[step] for step in STEPS} == dict.fromkeys(STEPS, 1), kind
    assert gate.recommendation.proposal["model_version"] == model.version == file_version(model_dir)
    assert (result.action["disposition"], result.action["score"]) == (
        "blocked",
        gate.recommendation.proposal["score"],
    )

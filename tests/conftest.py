from __future__ import annotations

import asyncio
import dataclasses
import functools
import html
import json
import os
import re
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User
from django.core.cache import caches
from django.db import connection
from django.test import Client, override_settings
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client as TemporalClient
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from agents.framework.codec import generate as generate_payload_keys
from agents.framework.registry import AGENTS, AgentSpec
from agents.framework.run_checks import VOUCHED_PREFIX
from agents.framework.types import AgentInput, AgentState, ChatMessage, GateSnapshot
from agents.framework.workflow import AgentWorkflow
from agents.loans.intake import LoanApplication
from reviewer_portal import temporal_client
from reviewer_portal.codec.keys import codec_for
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from reviewer_portal.live import broadcast
from reviewer_portal.trust.archive_key import new_archive_key
from reviewer_portal.trust.keys import SigningKey, generate, trusted_keys
from tests.actions import person_id
from tests.browser import browser, page  # noqa: F401  (fixtures for the browser tests)
from tests.harness import TemporalHarness
from tests.outage import gates_without_worker  # noqa: F401  (a fixture for the outage tests)
from tests.workflows.continued_runs import ContinueIntoAgent

HISTORIES = Path(__file__).parent / "histories"
T = TypeVar("T")
R = TypeVar("R")


TEST_PAYLOAD_KEYS = (Path(__file__).parent / "keys" / "payload-keys.json").read_text()


@pytest.fixture(scope="session", autouse=True)
def payload_keys() -> Iterator[str]:
    """The keys payloads are encrypted with in tests: fixed (tests/keys), so recorded histories
    decode when replayed; in the environment too, for subprocesses and the document store."""
    os.environ["PAYLOAD_KEYS"] = TEST_PAYLOAD_KEYS
    with override_settings(PAYLOAD_KEYS=TEST_PAYLOAD_KEYS):
        yield TEST_PAYLOAD_KEYS
    os.environ.pop("PAYLOAD_KEYS", None)


@pytest.fixture(scope="session", autouse=True)
def portal_signing_key() -> Iterator[SigningKey]:
    """The key the portal signs reviewer actions with in tests; runs started by tests pin it.
    In the environment too, so the portal and worker subprocesses some tests start share it; and
    the archive's key, which it endorses."""
    key = generate(key_id="test-portal-key")
    # The archive's own key, endorsed by it, as `signing_key archive-key` makes one.
    archive = new_archive_key(key, key_id="test-archive-key").to_json()
    os.environ["PORTAL_SIGNING_KEY"], os.environ["ARCHIVE_SIGNING_KEY"] = key.to_json(), archive
    with override_settings(PORTAL_SIGNING_KEY=key.to_json(), ARCHIVE_SIGNING_KEY=archive):
        yield key
    os.environ.pop("PORTAL_SIGNING_KEY", None)
    os.environ.pop("ARCHIVE_SIGNING_KEY", None)


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> None:
    """Each test starts with no chat counted against anyone's rate limit (an in-memory cache),
    and no inbox table kept by another test (users' ids repeat from test to test)."""
    caches["throttle"].clear()
    caches["inbox-tables"].clear()


@pytest.fixture(scope="session", autouse=True)
def file_stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Claim-check files, uploaded documents and published market briefs of the tests go to a
    folder of their own, never to var/ (where `make dev` keeps its own, sealed with other keys);
    subprocesses inherit it."""
    root = tmp_path_factory.mktemp("stores")
    saved = {
        name: os.environ.get(name) for name in ("CLAIM_CHECK_DIR", "DOCUMENT_STORE_DIR", "MARKET_BRIEFS_DIR")
    }
    os.environ["CLAIM_CHECK_DIR"] = str(root / "claims")
    os.environ["DOCUMENT_STORE_DIR"] = str(root / "documents")
    os.environ["MARKET_BRIEFS_DIR"] = str(root / "market-briefs")
    with override_settings(CLAIM_CHECK_DIR=root / "claims"):
        yield root
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def temporal(payload_keys: str, file_stores: Path) -> Iterator[TemporalHarness]:
    harness = TemporalHarness()
    yield harness
    harness.close()


@pytest.fixture
def raw_client(temporal: TemporalHarness):
    """A client of the test server as an operator's CLI with the codec would hold: the SDK's
    default (lenient) JSON converter and the payload keys, so it reads refusals; no claim check,
    no signing key."""
    converter = dataclasses.replace(
        DataConverter.default,
        payload_codec=codec_for("default"),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
    return temporal.run(TemporalClient.connect(temporal.address, data_converter=converter))


@pytest.fixture
def worker(temporal: TemporalHarness, transactional_db: None) -> Iterator[str]:
    """A worker with the real projection activity on a fresh task queue; yields the queue."""
    with temporal.worker(portal_activities=PORTAL_ACTIVITIES) as queue:
        yield queue


@pytest.fixture
def portal_settings(settings, temporal: TemporalHarness, transactional_db: None) -> Iterator[None]:
    """Point the portal's Temporal client at the test server."""
    settings.TEMPORAL_ADDRESS = temporal.address
    temporal_client.reset_client()
    yield
    temporal_client.reset_client()


@pytest.fixture
def portal(settings, portal_settings: None, worker: str) -> str:
    """The portal, with a worker serving the task queue it starts runs on; yields the queue."""
    settings.TEMPORAL_TASK_QUEUE = worker
    return worker


ROOT = Path(__file__).resolve().parent.parent


def production_env(**changes: str | None) -> dict[str, str]:
    """The environment of a production process: no DEBUG, its own secret key, signing key and
    payload keys, none of the development key files this process exported; `changes` set (or, with None, remove) variables."""
    inherited = {name: value for name, value in os.environ.items() if not name.endswith("_FILE")}
    env = {
        **inherited,
        "DEBUG": "false",
        "SECRET_KEY": uuid.uuid4().hex * 2,
        "ALLOWED_HOSTS": "portal.bank.example",
        "PAYLOAD_KEYS": generate_payload_keys(["default"]).to_json(),
    }
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def manage_py(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@functools.cache
def hashed_test_password() -> str:
    """ "pw", hashed once: the default hasher takes 0.4 s of CPU a user, which hundreds of users
    made over the suite spent again and again (their password is the same)."""
    return make_password("pw")


def make_user(username: str, *roles: str, superuser: bool = False) -> User:
    """A user whose password is "pw", with these roles."""
    user = User.objects.create(
        id=int(person_id(username)),
        username=username,
        password=hashed_test_password(),
        is_superuser=superuser,
        is_staff=superuser,
    )
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


APPROVABLE = LoanApplication("Amira Haddad", 18_000, 48, "home improvement", 62_000, 450, 742)
DECLINABLE = LoanApplication("Sofia Rossi", 4_000, 24, "education", 28_000, 150, 548)


def loan_input(
    application: LoanApplication = APPROVABLE,
    *,
    submitted_by: str = "intake",
    sla_seconds: int = 3600,
    escalation_sla_seconds: int = 3600,
) -> AgentInput:
    """A loan run's input as the portal starts it: the submitter's id, and the portal key pinned."""
    spec = AGENTS["loans"].pin(sla_seconds=sla_seconds, escalation_sla_seconds=escalation_sla_seconds)
    return AgentInput(
        spec=spec,
        subject=application.subject,
        case={**application.__dict__},
        submitted_by=submitted_by,
        submitted_by_id=person_id(submitted_by),
        trusted_keys=trusted_keys(),
    )


def forged_approval(real: GateSnapshot, workflow_id: str) -> AgentInput:
    """A loan run's input whose carry holds `real` (a gate a run opened) moved to `workflow_id` and
    "approved by officer": what an attacker would start a run with, to skip the review."""
    approved = dataclasses.replace(
        real,
        gate_id=f"{workflow_id}--g1",
        workflow_id=workflow_id,
        status="approved",
        decided_by="officer",
        decided_at=datetime.now(UTC),
        reason="Within policy",
        version=3,
    )
    carry = AgentState(messages=[ChatMessage(role="user", content="{}")], gates=[approved], published={})
    return dataclasses.replace(loan_input(), carry=carry)


def start_loan(
    temporal: TemporalHarness, queue: str, agent_input: AgentInput | None = None
) -> WorkflowHandle:
    return start_run(temporal, queue, agent_input or loan_input(), prefix="loan-test")


def start_run(
    temporal: TemporalHarness, queue: str, agent_input: AgentInput, *, prefix: str
) -> WorkflowHandle:
    """A run as the portal starts it; one given a carry starts as a chain's continued run does
    (tests/workflows/continued_runs.py), since a run started with one is refused."""
    workflow_id = f"{prefix}-{uuid.uuid4().hex[:12]}"
    if agent_input.carry is not None:
        relay = temporal.run(
            temporal.client.start_workflow(
                ContinueIntoAgent.run, agent_input, id=workflow_id, task_queue=queue
            )
        )
        continued_as_new(temporal, relay)
        return temporal.client.get_workflow_handle(workflow_id)
    return temporal.run(
        temporal.client.start_workflow(AgentWorkflow.run, agent_input, id=workflow_id, task_queue=queue)
    )


def continued_as_new(temporal: TemporalHarness, handle: WorkflowHandle, timeout: float = 30) -> None:
    """Wait until the run `handle` started has continued as new."""
    run = temporal.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    deadline = time.monotonic() + timeout
    while temporal.run(run.describe()).status != WorkflowExecutionStatus.CONTINUED_AS_NEW:
        if time.monotonic() > deadline:
            raise AssertionError(f"{handle.id} did not continue as new within {timeout} s")
        time.sleep(0.05)


def agent_input_for(spec: AgentSpec, subject: str, case: dict, *, submitted_by: str = "intake") -> AgentInput:
    """A run's input as the portal starts it, for any agent: pinned spec, submitter, portal key."""
    return AgentInput(
        spec=spec.pin(),
        subject=subject,
        case=case,
        submitted_by=submitted_by,
        submitted_by_id=person_id(submitted_by),
        trusted_keys=trusted_keys(),
    )


def record_history(temporal: TemporalHarness, handle: WorkflowHandle, name: str) -> None:
    """Keep a finished run's history for the replay test (written when RECORD_HISTORIES=1)."""
    if os.environ.get("RECORD_HISTORIES") != "1":
        return
    history = temporal.run(handle.fetch_history())
    # RECORD_HISTORIES_DIR keeps a new recording beside the old one (tests/histories/patch_set).
    folder = HISTORIES / os.environ.get("RECORD_HISTORIES_DIR", "")
    folder.mkdir(exist_ok=True)
    recorded = {"workflow_id": handle.id, "history": history.to_json_dict()}
    (folder / f"{name}.json").write_text(json.dumps(recorded, indent=1))


def patch_markers(temporal: TemporalHarness, handle: WorkflowHandle) -> list[str]:
    """The ids of the code patches whose markers the run recorded, in order (not the marker a
    worker records to vouch for a run's first task: agents/framework/run_checks.py)."""
    history = temporal.run(handle.fetch_history())
    ids = [
        json.loads(marker.details["patch-data"].payloads[0].data)["id"]
        for event in history.events
        if event.HasField("marker_recorded_event_attributes")
        and (marker := event.marker_recorded_event_attributes).marker_name == "core_patch"
    ]
    return [patch for patch in ids if not patch.startswith(VOUCHED_PREFIX)]


def wait_for_gate(
    temporal: TemporalHarness,
    handle: WorkflowHandle,
    *,
    version: int = 1,
    until: Callable[[GateSnapshot], bool] | None = None,
    timeout: float = 30,
):
    """Poll the workflow's `gate` query until the gate exists at `version` or later (and, with
    `until`, satisfies it)."""

    async def poll():
        async with asyncio.timeout(timeout):
            while True:
                gate = await handle.query(AgentWorkflow.gate)
                if gate is not None and gate.version >= version and (until is None or until(gate)):
                    return gate
                await asyncio.sleep(0.1)

    return temporal.run(poll(), timeout=timeout + 10)


def event_types(temporal: TemporalHarness, handle: WorkflowHandle) -> list[str]:
    history = temporal.run(handle.fetch_history())
    return [EventType.Name(e.event_type) for e in history.events]


def work_done(temporal: TemporalHarness, handle: WorkflowHandle) -> list[str]:
    """What the run did beyond deciding: activities scheduled and local activities run (their
    markers), but not patch markers (a worker's vouching marker among them)."""
    history = temporal.run(handle.fetch_history())
    return [
        EventType.Name(e.event_type)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        or (
            e.HasField("marker_recorded_event_attributes")
            and e.marker_recorded_event_attributes.marker_name != "core_patch"
        )
    ]


def activity_names(temporal: TemporalHarness, handle: WorkflowHandle) -> list[str]:
    history = temporal.run(handle.fetch_history())
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


def projected_gate(handle, *, version: int = 1, timeout: float = 30) -> Gate:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gate = Gate.objects.filter(workflow_id=handle.id, version__gte=version).first()
        if gate is not None:
            return gate
        time.sleep(0.1)
    raise AssertionError(f"gate of {handle.id} never reached the projection")


def same_minute_for(seconds: float) -> None:
    """Wait, if need be, until the current minute has `seconds` left: an inbox tag carries the
    minute (reviewer_portal.inbox.freshness), so a test that expects a tag to hold must not
    straddle the minute's turn."""
    while 60 - time.time() % 60 < seconds:
        time.sleep(0.5)


def in_threads(work: Callable[[T], R], items: list[T], *, threads: int = 2) -> list[R]:
    """`work` on each item at once from `threads` threads, each closing its own database
    connection after (PostgreSQL would keep it open past the test)."""

    def run(item: T) -> R:
        try:
            return work(item)
        finally:
            connection.close()

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, items))


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


CONFIRM_TOKEN = re.compile(r'name="confirm_token" value="([^"]+)"')


def decide(
    client: Client,
    gate: Gate,
    decision="approve",
    reason="",
    submission_id=None,
    htmx=True,
    claim_first=True,
    confirm=True,
    **fields,
):
    """POST the gate's decision form as a reviewer would; `fields` adds e.g. edit_<name>.

    As on the page: a gate whose policy lets only its holder decide (loans) is claimed first
    (unless `claim_first` is False), and when the panel asks to confirm a decision against the
    AI's recommendation, it is confirmed with the same reason (unless `confirm` is False)."""
    headers = {"HX-Request": "true"} if htmx else {}
    current = Gate.objects.filter(pk=gate.pk).first() or gate
    if claim_first and current.claim_required and not current.assignee:
        client.post(f"/gates/{gate.gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers=headers)
    data = {
        "decision": decision,
        "reason": reason,
        "submission_id": submission_id or str(uuid.uuid4()),
        "revision": len(gate.revisions),  # the recommendation on the page
        **fields,
    }
    response = client.post(f"/gates/{gate.gate_id}/decide/", data, headers=headers)
    asked = CONFIRM_TOKEN.search(response.content.decode()) if confirm else None
    if asked and "confirmed" not in data:
        data.update(confirmed="on", confirm_token=html.unescape(asked.group(1)))
        response = client.post(f"/gates/{gate.gate_id}/decide/", data, headers=headers)
    return response


def submit_loan_application(client: Client, submission_id: str | None = None):
    """POST the intake form as a credit officer would; returns the response."""
    form = {
        "applicant_name": "Ada Byron",
        "amount": "12000",
        "term_months": "36",
        "purpose": "car",
        "annual_income": "55000",
        "monthly_debts": "300",
        "credit_score": "720",
        "submission_id": submission_id or str(uuid.uuid4()),
    }
    return client.post("/applications/new/", form)


@pytest.fixture
def loan_gate(temporal, portal):
    handle = start_loan(temporal, portal, loan_input(submitted_by="intake"))
    return handle, projected_gate(handle)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Before the test's fixtures end (its database flushed, its settings restored): wait for the
    live pushes it set off, which would otherwise be sent into the next test's tables."""
    if not broadcast.wait_for_pushes():
        warnings.warn(f"{item.nodeid} left a live push unsent", stacklevel=1)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """SQLite leaves its -wal and -shm files beside the test database it dropped: remove them."""
    database = Path(str(settings.DATABASES["default"].get("TEST", {}).get("NAME") or ""))
    if database.name.startswith("test-") and not database.exists():
        for leftover in database.parent.glob(f"{database.name}-*"):
            leftover.unlink(missing_ok=True)


def activities_scheduled_together(
    temporal: TemporalHarness, handle: WorkflowHandle, names: set[str]
) -> set[str]:
    """The activities scheduled in one go with the first of `names`, before any other event: the
    calls of one turn the workflow dispatched at once."""
    together: set[str] = set()
    for event in temporal.run(handle.fetch_history()).events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            if name in names or together:
                together.add(name)
        elif together:
            break
    return together

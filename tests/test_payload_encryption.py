"""Payload encryption on the real dev server: what Temporal, its Web UI and the claim-check store
hold is ciphertext; the portal and the worker read it; keys rotate without losing old runs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from google.protobuf.json_format import MessageToDict
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.worker import Worker

from agents.framework.codec import ENCODING, KEY_ID, EncryptionCodec, PayloadKeys, generate, rotate
from agents.framework.llm import LlmSettings
from agents.framework.registry import AGENTS
from agents.framework.seals import SealKeys
from agents.framework.strict_json import STRICT_DATA_CONVERTER
from agents.framework.worker import build_worker
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from reviewer_portal.temporal_client import data_converter
from reviewer_portal.trust.public_keys import worker_keyring
from reviewer_portal.trust.start_signing import SignedStarts
from tests import actions
from tests.conftest import (
    DECLINABLE,
    decide,
    loan_input,
    logged_in,
    make_user,
    manage_py,
    production_env,
    projected_gate,
    start_loan,
    submit_loan_application,
    wait_for_gate,
)


def raw_history_text(temporal, handle) -> str:
    """The run's history exactly as Temporal stores and serves it (no codec), as text."""
    history = temporal.run(Client.connect(temporal.address)).get_workflow_handle(handle.id)
    return json.dumps(temporal.run(history.fetch_history()).to_json_dict())


def test_history_holds_no_case_data_decision_or_failure_text_in_the_clear(temporal, portal):
    broken = dataclasses.replace(DECLINABLE, term_months=0)  # a tool fails, with case data nearby
    handle = start_loan(temporal, portal, loan_input(broken))
    gate = projected_gate(handle)
    decide(
        logged_in(make_user("officer", "credit_officer")), gate, "reject", reason="Sofia's score is too low"
    )
    temporal.run(handle.result())

    raw = raw_history_text(temporal, handle)
    payloads = [
        Payload.FromString(p.SerializeToString())
        for e in temporal.run(handle.fetch_history()).events
        for p in _payloads(e)
    ]

    for secret in ("Sofia Rossi", "officer", "Sofia's score is too low", "term and income must be positive"):
        assert secret not in raw, secret
    assert payloads and all(p.metadata["encoding"] == ENCODING for p in payloads)
    # ... yet the portal reads it all back: the audit trail decodes with the same keys.
    audit = logged_in(make_user("auditor", "auditor")).get(f"/audit/{handle.id}/").content.decode()
    assert "Sofia&#x27;s score is too low" in audit and "term and income must be positive" in audit


def test_claim_check_files_are_stored_encrypted(temporal, portal):
    agent_input = loan_input()
    agent_input.case["branch_notes"] = "The applicant's circumstances, in detail. " * 8_000
    before = set(Path(settings.CLAIM_CHECK_DIR).glob("*/*"))
    handle = start_loan(temporal, portal, agent_input)
    gate = projected_gate(handle)

    stored = [p.read_bytes() for p in set(Path(settings.CLAIM_CHECK_DIR).glob("*/*")) - before]

    assert gate.case["branch_notes"].startswith("The applicant's circumstances")
    assert stored and not any(b"circumstances" in body or b"Amira" in body for body in stored)
    temporal.run(handle.terminate("test done"))


def test_runs_started_under_an_older_key_decode_and_finish_after_the_key_rotates(temporal, transactional_db):
    keys = PayloadKeys.from_json(settings.PAYLOAD_KEYS)
    rotated = rotate(keys, "default", "test-k2")
    queue = f"rotation-{uuid.uuid4().hex[:8]}"
    with temporal.worker(queue, portal_activities=PORTAL_ACTIVITIES):
        handle = start_loan(temporal, queue, loan_input())  # written under test-k1
        gate = wait_for_gate(temporal, handle)
    with _worker_with_keys(temporal, queue, rotated) as client:
        later = client.get_workflow_handle_for(AgentWorkflow.run, handle.id)
        actions.decide(temporal, later, gate.gate_id, reason="Decided after the rotation")
        result = temporal.run(later.result())

    assert result.outcome == "approved"
    key_ids = {p.metadata[KEY_ID] for e in temporal.run(later.fetch_history()).events for p in _payloads(e)}
    assert key_ids == {b"test-k1", b"test-k2"}  # the run's early payloads, and the ones since


def test_a_payload_altered_or_from_another_namespace_does_not_decrypt():
    keys = generate(["default", "loans"])
    default = EncryptionCodec(keys.of("default"), "default")
    sealed = default.encrypt(Payload(metadata={"encoding": b"json/plain"}, data=b'{"applicant": "Ada"}'))
    altered = Payload()
    altered.CopyFrom(sealed)
    altered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    # The same key material used for another namespace still refuses it: the namespace is bound in.
    same_key_elsewhere = EncryptionCodec(keys.of("default"), "loans")

    assert default.decrypt(sealed).data == b'{"applicant": "Ada"}'
    for codec, payload in ((default, altered), (same_key_elsewhere, sealed)):
        with pytest.raises(ValueError, match="does not decrypt"):
            codec.decrypt(payload)
    with pytest.raises(LookupError, match="No payload key"):
        EncryptionCodec(generate(["loans"], key_id="k9").of("loans"), "loans").decrypt(sealed)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (generate(["default"], dev=True).to_json(), "development keys"),
        (generate(["other"]).to_json(), "No payload keys for namespace(s) default"),
        (None, "Set PAYLOAD_KEYS or PAYLOAD_KEYS_FILE"),
    ],
    ids=["dev-keys", "wrong-namespace", "none"],
)
def test_production_refuses_to_run_without_its_own_payload_keys(keys, message):
    check = manage_py("check", "--deploy", env=production_env(PAYLOAD_KEYS=keys, PAYLOAD_KEYS_FILE=None))

    assert check.returncode != 0 and message in check.stderr


class _worker_with_keys:
    """A client and worker on `queue` whose codec holds `keys` (a portal and sidecar restarted
    with rotated keys)."""

    def __init__(self, temporal, queue: str, keys: PayloadKeys) -> None:
        self.temporal, self.queue, self.keys = temporal, queue, keys

    def __enter__(self) -> Client:
        converter = dataclasses.replace(
            data_converter(), payload_codec=EncryptionCodec(self.keys.of("default"), "default")
        )

        async def start() -> tuple[Client, Worker]:
            client = await Client.connect(
                self.temporal.address,
                data_converter=converter,
                interceptors=[
                    SignedStarts(
                        STRICT_DATA_CONVERTER.payload_converter,
                        SealKeys.derived_from(self.keys.of("default"), "default"),
                    )
                ],
            )
            worker = build_worker(
                client,
                task_queue=self.queue,
                agents=AGENTS.values(),
                llm=LlmSettings(),
                portal_activities=PORTAL_ACTIVITIES,
                executor=self.temporal.executor,
                keyring=worker_keyring(),
            )
            return client, worker

        self.client, self.worker = self.temporal.run(start())
        self.task = asyncio.run_coroutine_threadsafe(self.worker.run(), self.temporal.loop)
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.temporal.run(self.worker.shutdown())
        self.task.result(30)


def _payloads(event) -> list[Payload]:
    """Every payload an event carries that the workflow's converter wrote."""
    found: list[Payload] = []
    for field in ("activity_task_scheduled_event_attributes", "workflow_execution_started_event_attributes"):
        if event.HasField(field):
            found += getattr(event, field).input.payloads
    if event.HasField("activity_task_completed_event_attributes"):
        found += event.activity_task_completed_event_attributes.result.payloads
    if event.HasField("workflow_execution_update_accepted_event_attributes"):
        found += (
            event.workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads
        )
    return found


def test_workflow_ids_search_attributes_and_memo_carry_no_personal_data(temporal, portal):
    submission_id = str(uuid.uuid4())
    submit_loan_application(logged_in(make_user("intake", "credit_officer")), submission_id)
    handle = temporal.client.get_workflow_handle(f"loan-{submission_id}")
    projected_gate(handle)

    described = temporal.run(handle.describe())
    listed = temporal.run(_listed(temporal, handle.id))
    visible = json.dumps(MessageToDict(described.raw_description)) + json.dumps(MessageToDict(listed))

    assert handle.id == f"loan-{submission_id}"  # the form's random id, nothing of the applicant's
    for personal in ("Ada Byron", "Byron"):  # (short values would match base64 by chance)
        assert personal not in visible, personal


async def _listed(temporal, workflow_id: str):
    """The run as Temporal's list (and the Web UI's run list) shows it: search attributes, memo."""
    async for execution in temporal.client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        return execution.raw_info
    raise AssertionError(f"{workflow_id} is not listed")

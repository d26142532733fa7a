"""A namespace per agent domain, on the real dev server: runs start in their domain's namespace and
task queue, reviewer actions reach them there, and one domain's keys, workers and codec tokens do
not read another domain's payloads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client as TemporalClient
from temporalio.service import RPCError, RPCStatusCode

from agents.framework.codec import EncryptionCodec, KeyNotFound, PayloadKeys, generate
from reviewer_portal.codec.keys import ensure_dev_keys
from reviewer_portal.codec.tokens import codec_token_issue
from reviewer_portal.domains import domain_of, namespaces
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from reviewer_portal.intake.services import intake_submit
from reviewer_portal.temporal_client import reset_client
from tests.conftest import ROOT, TEST_PAYLOAD_KEYS, decide, logged_in, make_user, submit_loan_application


@pytest.fixture
def split_domains(temporal, portal_settings, settings):
    """Loans and advice each in a namespace and on a task queue of their own, each with a worker
    whose client holds only that namespace's keys; yields {agent: namespace}."""
    queues = {agent: f"{agent}-{uuid.uuid4().hex[:8]}" for agent in ("loans", "advice")}
    settings.AGENT_DOMAINS = {
        agent: {"namespace": agent, "task_queue": queue} for agent, queue in queues.items()
    }
    reset_client()
    with (
        temporal.worker(queues["loans"], namespace="loans", portal_activities=PORTAL_ACTIVITIES),
        temporal.worker(queues["advice"], namespace="advice", portal_activities=PORTAL_ACTIVITIES),
    ):
        yield {"loans": "loans", "advice": "advice"}
    reset_client()


def wait_for_projected(workflow_id: str, timeout: float = 30) -> Gate:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gate = Gate.objects.filter(workflow_id=workflow_id).first()
        if gate is not None:
            return gate
        time.sleep(0.1)
    raise AssertionError(f"no gate of {workflow_id} reached the projection")


def raw_history(temporal, namespace: str, workflow_id: str) -> list[Payload]:
    """Every payload of the run as its namespace stores it (no codec)."""

    async def read() -> list[Payload]:
        client = await TemporalClient.connect(temporal.address, namespace=namespace)
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        return list(started.input.payloads)

    return temporal.run(read())


def test_a_loan_runs_in_its_domains_namespace_and_is_decided_there(temporal, split_domains):
    officer = make_user("officer", "credit_officer")
    submission_id = str(uuid.uuid4())
    assert (
        submit_loan_application(logged_in(make_user("intake", "credit_officer")), submission_id).status_code
        == 302
    )
    gate = wait_for_projected(f"loan-{submission_id}")

    answer = decide(logged_in(officer), gate, reason="Affordable.")

    assert answer.status_code == 200 and "recorded by the agent" in answer.content.decode()
    loans = temporal.run(temporal.client_of("loans"))
    described = temporal.run(loans.get_workflow_handle(gate.workflow_id).describe())
    assert described.task_queue == domain_of("loans").task_queue
    with pytest.raises(RPCError) as missing:  # not in the default namespace
        temporal.run(temporal.client.get_workflow_handle(gate.workflow_id).describe())
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    audit = logged_in(make_user("auditor", "auditor")).get(f"/audit/{gate.workflow_id}/")
    assert audit.status_code == 200 and "/namespaces/loans/workflows/" in audit.content.decode()


def test_one_domains_keys_do_not_open_another_domains_payloads(temporal, split_domains, settings):
    submission_id = str(uuid.uuid4())
    workflow_id = intake_submit(
        agent="advice",
        values={"customer_id": "CUST-1001"},
        submitted_by=make_user("adviser", "licensed_adviser"),
        submission_id=submission_id,
    )
    [payload] = raw_history(temporal, "advice", workflow_id)
    keys = PayloadKeys.from_json(TEST_PAYLOAD_KEYS)

    assert b"CUST-1001" not in payload.SerializeToString()
    assert b"CUST-1001" in EncryptionCodec(keys.of("advice"), "advice").decrypt(payload).data
    with pytest.raises(KeyNotFound):  # the loans domain holds no advice key
        EncryptionCodec(keys.of("loans"), "loans").decrypt(payload)
    # Even the advice key does not open it as another namespace's payload.
    with pytest.raises(ValueError, match="does not decrypt"):
        EncryptionCodec(keys.of("advice"), "loans").decrypt(payload)


def test_an_officers_codec_token_decodes_their_domain_only(temporal, split_domains):
    officer = make_user("officer", "credit_officer")
    _, token = codec_token_issue(user=officer, days=1)
    submission_id = str(uuid.uuid4())
    submit_loan_application(logged_in(make_user("intake", "credit_officer")), submission_id)
    loan = wait_for_projected(f"loan-{submission_id}")
    advice_id = intake_submit(
        agent="advice",
        values={"customer_id": "CUST-1002"},
        submitted_by=make_user("adviser", "licensed_adviser"),
        submission_id=str(uuid.uuid4()),
    )
    loan_payloads = raw_history(temporal, "loans", loan.workflow_id)
    advice_payloads = raw_history(temporal, "advice", advice_id)

    def decode(namespace: str, workflow_id: str, payloads: list[Payload], bearer: str = token):
        return Client().post(
            f"/codec/{namespace}/workflows/{workflow_id}/decode",
            data=json_format.MessageToJson(Payloads(payloads=payloads)),
            content_type="application/json",
            headers={"Authorization": f"Bearer {bearer}"},
        )

    assert decode("loans", loan.workflow_id, loan_payloads).status_code == 200
    assert decode("advice", advice_id, advice_payloads).status_code == 403  # not a gate of theirs
    # Naming their own run does not open another namespace.
    assert decode("advice", loan.workflow_id, advice_payloads).status_code == 403
    assert decode("loans", loan.workflow_id, loan_payloads, bearer="rpc_" + "x" * 40).status_code == 401


def test_the_web_ui_endpoint_for_every_namespace_takes_it_from_the_header(temporal, split_domains):
    auditor = logged_in(make_user("auditor", "auditor"))
    body = json.dumps({"payloads": []})

    named = auditor.post(
        "/codec/%7Bnamespace%7D/decode",
        body,
        content_type="application/json",
        headers={"X-Namespace": "advice"},
    )
    unnamed = auditor.post("/codec/%7Bnamespace%7D/decode", body, content_type="application/json")
    crossed = auditor.post(
        "/codec/loans/decode", body, content_type="application/json", headers={"X-Namespace": "advice"}
    )

    assert named.status_code == 200
    assert unnamed.status_code == 400 and "X-Namespace" in unnamed.content.decode()
    assert crossed.status_code == 400 and "not advice" in crossed.content.decode()


def test_run_worker_serves_one_domain_in_its_namespace(temporal):
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal.address,
        "AGENT_DOMAINS": json.dumps({"loans": {"namespace": "loans", "task_queue": "loans-only"}}),
    }
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--domain", "loans"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        plan = next(line for line in worker.stdout if line.startswith("Worker:"))
    finally:
        worker.terminate()
        worker.wait(60)

    assert "namespace loans, task queue loans-only, agents loans," in plan


def test_a_domain_naming_an_unknown_agent_fails_the_check(settings):
    settings.AGENT_DOMAINS = {"crypto": {"namespace": "crypto"}}

    with pytest.raises(SystemCheckError, match="'crypto', which is not a registered agent"):
        call_command("check")


def test_development_keys_grow_with_the_namespaces_but_production_keys_are_left_alone(tmp_path, settings):
    settings.AGENT_DOMAINS = {"loans": {"namespace": "loans"}}
    dev = tmp_path / "dev.json"
    dev.write_text(generate(["default"], dev=True).to_json())
    prod = tmp_path / "prod.json"
    prod.write_text(generate(["default"]).to_json())

    assert namespaces() == ["default", "loans"]
    assert ensure_dev_keys(dev, namespaces()) == ["loans"]
    assert set(PayloadKeys.from_json(dev.read_text()).namespaces) == {"default", "loans"}
    assert ensure_dev_keys(prod, namespaces()) == []
    assert set(PayloadKeys.from_json(prod.read_text()).namespaces) == {"default"}

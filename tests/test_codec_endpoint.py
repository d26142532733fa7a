"""The codec endpoint: the Temporal Web UI and CLI decode payloads through the portal, only for
the people allowed to read the run; every request is logged. Real dev server, real runs, and the
real `temporal` CLI against the portal served on a loopback port."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest

from reviewer_portal.codec.models import CodecAccess, CodecToken
from reviewer_portal.codec.tokens import codec_token_issue
from reviewer_portal.inbox.models import Gate
from tests.conftest import APPROVABLE, loan_input, logged_in, make_user, projected_gate, start_loan

TEMPORAL = Path(sys.executable).parent / "temporal"
UI = "http://127.0.0.1:8233"


@pytest.fixture
def loan(temporal, portal):
    """A loan run at its gate: its history holds only ciphertext."""
    handle = start_loan(temporal, portal, loan_input())
    return handle, projected_gate(handle)


def encrypted_input(temporal, handle) -> dict:
    """The run's start input exactly as Temporal holds it: the codec protocol's JSON."""
    raw = temporal.run(
        temporal.env.client.workflow_service.get_workflow_execution_history(_history_request(handle))
    )
    payload = raw.history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    return {"payloads": [_as_json(payload)]}


def decode(client: Client, body: dict, path: str = "/codec/default/decode", **headers: str):
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def decoded_text(response) -> str:
    return "".join(base64.b64decode(p["data"]).decode() for p in response.json()["payloads"])


def test_an_auditor_decodes_any_run_and_each_request_is_logged(temporal, loan):
    handle, _ = loan
    body = encrypted_input(temporal, handle)
    auditor = logged_in(make_user("auditor", "auditor"))

    response = decode(auditor, body, X_Namespace="default")

    assert response.status_code == 200 and "Amira Haddad" in decoded_text(response)
    assert "Amira Haddad" not in json.dumps(body)
    [access] = CodecAccess.objects.all()
    assert (access.user.username, access.via, access.operation, access.namespace, access.allowed) == (
        "auditor",
        "session",
        "decode",
        "default",
        True,
    )


def test_a_reviewer_decodes_only_runs_of_their_own_gates_when_the_request_names_the_run(temporal, loan):
    handle, gate = loan
    body = encrypted_input(temporal, handle)
    officer = logged_in(make_user("officer", "credit_officer"))
    compliance = logged_in(make_user("compliance", "compliance_reviewer"))
    page = f"{UI}/namespaces/default/workflows/{handle.id}/history"

    unnamed = decode(officer, body)
    from_the_ui_page = decode(officer, body, Referer=page)
    by_path = decode(officer, body, path=f"/codec/default/workflows/{handle.id}/decode")
    other_role = decode(compliance, body, Referer=page)

    assert unnamed.status_code == 403 and other_role.status_code == 403
    assert "Amira Haddad" in decoded_text(from_the_ui_page) and "Amira Haddad" in decoded_text(by_path)
    assert CodecAccess.objects.filter(workflow_id=handle.id, allowed=True).count() == 2
    assert Gate.objects.get(gate_id=gate.gate_id).role == "credit_officer"


def test_naming_ones_own_run_does_not_decode_another_runs_payloads(temporal, portal, loan):
    """A reviewer may name a run of their own gate, then send a payload of any other run in the
    namespace: only payloads of the named run's own history are decoded, the others come back
    as they were sent (ciphertext), and the refusal is logged."""
    handle, _ = loan
    other = start_loan(temporal, portal, loan_input(replace(APPROVABLE, applicant_name="Bruno Keller")))
    projected_gate(other)
    officer = logged_in(make_user("officer", "credit_officer"))
    own, foreign = encrypted_input(temporal, handle), encrypted_input(temporal, other)
    path = f"/codec/default/workflows/{handle.id}/decode"

    mixed = decode(officer, {"payloads": own["payloads"] + foreign["payloads"]}, path=path)

    [mine, theirs] = mixed.json()["payloads"]
    assert mixed.status_code == 200
    assert "Amira Haddad" in base64.b64decode(mine["data"]).decode()
    assert theirs == foreign["payloads"][0] and "Bruno Keller" not in json.dumps(mixed.json())
    access = CodecAccess.objects.get(workflow_id=handle.id)
    assert (access.payloads, access.foreign_payloads, access.allowed) == (2, 1, True)


def test_nobody_else_gets_plaintext(temporal, loan):
    handle, _ = loan
    body = encrypted_input(temporal, handle)
    make_user("auditor", "auditor")
    token, _ = codec_token_issue(user=make_user("expired", "auditor"), days=1)
    CodecToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    anonymous = decode(Client(), body)
    bad_token = decode(Client(), body, Authorization="Bearer rpc_not-a-token")
    expired = decode(Client(), body, Authorization=f"Bearer {_secret_of(token)}")

    assert [r.status_code for r in (anonymous, bad_token, expired)] == [401, 401, 401]
    assert CodecAccess.objects.filter(allowed=True).count() == 0


def test_cors_admits_the_web_ui_origin_only(temporal, loan):
    handle, _ = loan
    auditor = logged_in(make_user("auditor", "auditor"))
    preflight = auditor.options("/codec/default/decode", headers={"Origin": UI})
    elsewhere = decode(auditor, encrypted_input(temporal, handle), Origin="https://evil.example")

    assert preflight.status_code == 204
    assert (
        preflight["Access-Control-Allow-Origin"] == UI
        and preflight["Access-Control-Allow-Credentials"] == "true"
    )
    assert "X-Namespace" in preflight["Access-Control-Allow-Headers"]
    assert elsewhere.status_code == 403 and "Access-Control-Allow-Origin" not in elsewhere


def test_only_an_admin_encodes_and_garbage_is_a_400(temporal, loan):
    plain = {"payloads": [_as_json(Payload(metadata={"encoding": b"json/plain"}, data=b'"x"'))]}
    auditor = logged_in(make_user("auditor", "auditor"))
    admin = logged_in(make_user("root", superuser=True))

    assert decode(auditor, plain, path="/codec/default/encode").status_code == 403
    encoded = decode(admin, plain, path="/codec/default/encode").json()["payloads"][0]
    assert base64.b64decode(encoded["metadata"]["encoding"]) == b"binary/encrypted"
    assert decode(admin, {"payloads": "nonsense"}).status_code == 400
    assert (
        admin.post("/codec/default/decode", b"\xff\xfe", content_type="application/json").status_code == 400
    )
    assert decode(admin, plain, path="/codec/nowhere/decode").status_code == 404


def test_codec_token_command_issues_lists_and_revokes(temporal, loan):
    handle, _ = loan
    make_user("auditor", "auditor")
    out, err = StringIO(), StringIO()

    call_command("codec_token", "auditor", "--days", "7", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    token = CodecToken.objects.get()
    works = decode(Client(), encrypted_input(temporal, handle), Authorization=f"Bearer {secret}")
    call_command("codec_token", "--revoke", str(token.pk), stdout=StringIO())
    revoked = decode(Client(), encrypted_input(temporal, handle), Authorization=f"Bearer {secret}")

    assert secret.startswith("rpc_") and f"Codec token {token.pk} for auditor" in err.getvalue()
    assert token.secret_sha256 not in secret and secret not in str(CodecToken.objects.values())
    assert works.status_code == 200 and revoked.status_code == 401


@pytest.mark.once  # the Temporal CLI against the codec endpoint, not the portal's database: one CI pass
def test_the_temporal_cli_decodes_with_an_auditors_token_and_not_with_a_bad_one(temporal, loan, live_server):
    handle, _ = loan
    _, secret = codec_token_issue(user=make_user("auditor", "auditor"), days=1)
    officer = make_user("officer", "compliance_reviewer")  # another domain's reviewer
    _, officer_secret = codec_token_issue(user=officer, days=1)

    def show(token: str) -> str:
        command = [
            str(TEMPORAL), "workflow", "show", "-w", handle.id, "--address", temporal.address,
            "--codec-endpoint", f"{live_server.url}/codec/{{namespace}}", "--codec-auth", f"Bearer {token}",
            "--detailed",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        return done.stdout + done.stderr

    assert "input[0].case.applicant_name: Amira Haddad" in show(secret)
    assert "Amira Haddad" not in show("rpc_bad")
    assert "Amira Haddad" not in show(officer_secret)
    # (The CLI retries a refused request a few times: each try is logged.)
    assert set(CodecAccess.objects.values_list("via", "allowed")) == {
        ("token", True),
        ("bad token", False),
        ("token", False),
    }


def _history_request(handle) -> GetWorkflowExecutionHistoryRequest:
    return GetWorkflowExecutionHistoryRequest(
        namespace="default", execution=WorkflowExecution(workflow_id=handle.id)
    )


def _as_json(payload: Payload) -> dict:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


def _secret_of(token: CodecToken) -> str:
    """A token's secret is not kept: give the expired one a secret the test knows."""
    secret = f"rpc_expired-{token.pk}"
    CodecToken.objects.filter(pk=token.pk).update(secret_sha256=hashlib.sha256(secret.encode()).hexdigest())
    return secret

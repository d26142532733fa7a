"""What the codec endpoint costs and records when a request is not what it should be: payloads a
reviewer makes up read the named run's history at most once per cache period, and every refused
request is logged and answered with the Web UI's CORS headers. Real dev server, real runs."""

from __future__ import annotations

import base64
import json
import os

import pytest
from django.test import Client

from reviewer_portal.codec import run_payloads
from reviewer_portal.codec.models import CodecAccess
from tests.conftest import logged_in, make_user
from tests.test_codec_endpoint import decoded_text, encrypted_input

UI = "http://127.0.0.1:8233"  # in CODEC_CORS_ORIGINS by default


@pytest.fixture
def history_reads(monkeypatch) -> list[str]:
    """The runs whose history the endpoint read, in order: the real read, counted."""
    reads: list[str] = []
    real = run_payloads._fetch

    async def counted(namespace: str, workflow_id: str) -> run_payloads.RunPayloads:
        reads.append(workflow_id)
        return await real(namespace, workflow_id)

    monkeypatch.setattr(run_payloads, "_fetch", counted)
    return reads


def test_payloads_made_up_by_a_reviewer_read_the_runs_history_at_most_once_per_period(
    temporal, loan_gate, history_reads
):
    handle, _ = loan_gate
    officer = logged_in(make_user("officer", "credit_officer"))
    path = f"/codec/default/workflows/{handle.id}/decode"

    first = officer.post(path, json.dumps(encrypted_input(temporal, handle)), content_type="application/json")
    assert "Amira Haddad" in decoded_text(first) and len(history_reads) == 1
    for _ in range(10):
        made_up = {"payloads": [_random_payload()]}
        answer = officer.post(path, json.dumps(made_up), content_type="application/json")
        assert answer.status_code == 200 and answer.json() == made_up  # not of the run: as it came

    assert len(history_reads) <= 2  # the first read, and at most one more
    assert CodecAccess.objects.filter(workflow_id=handle.id, foreign_payloads=1).count() == 10


def test_a_closed_runs_history_is_read_once_whatever_the_reviewer_sends(
    temporal, loan_gate, history_reads, monkeypatch
):
    handle, _ = loan_gate
    temporal.run(handle.terminate("closed for the test"))
    monkeypatch.setattr(run_payloads, "CACHE_SECONDS", 0)  # an open run's history: read on every miss
    officer = logged_in(make_user("officer", "credit_officer"))
    path = f"/codec/default/workflows/{handle.id}/decode"

    for _ in range(4):
        made_up = {"payloads": [_random_payload()]}
        assert officer.post(path, json.dumps(made_up), content_type="application/json").json() == made_up

    assert history_reads == [handle.id]


def test_every_refusal_is_logged_and_answered_with_cors(temporal, portal, settings):
    auditor = logged_in(make_user("auditor", "auditor"))
    body = json.dumps({"payloads": [_random_payload()]})

    def post(path: str = "/codec/default/decode", client: Client = auditor, **headers: str):
        return client.post(path, body, content_type="application/json", headers={"Origin": UI, **headers})

    wrong_namespace = post(X_Namespace="loans")
    unnamed_namespace = post("/codec/{namespace}/decode")
    no_keys = post("/codec/nowhere/decode")
    wrong_origin = post(Origin="https://evil.example")
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    too_big = post()
    wrong_method = auditor.get("/codec/default/decode", headers={"Origin": UI})

    answers = (wrong_namespace, unnamed_namespace, no_keys, wrong_origin, too_big, wrong_method)
    assert [r.status_code for r in answers] == [400, 400, 404, 403, 413, 405]
    assert all(r["Access-Control-Allow-Origin"] == UI for r in answers if r is not wrong_origin)
    assert "Access-Control-Allow-Origin" not in wrong_origin
    logged = CodecAccess.objects.order_by("at", "pk").values_list("user__username", "namespace", "allowed")
    assert list(logged) == [
        ("auditor", "loans", False),
        ("auditor", "", False),
        ("auditor", "nowhere", False),
        ("auditor", "default", False),
        ("auditor", "default", False),
        ("auditor", "default", False),
    ]


def _random_payload() -> dict:
    return {
        "metadata": {"encoding": base64.b64encode(b"binary/encrypted").decode()},
        "data": base64.b64encode(os.urandom(64)).decode(),
    }

"""The LLM activity with the real openai client against a real loopback server's faults."""

from __future__ import annotations

import json

from agents.framework.llm import LlmSettings
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.projection import publish_gate
from tests.conftest import start_loan, wait_for_gate
from tests.fake_openai import FakeOpenAI, Fault

ERROR = json.dumps({"error": {"message": "slow down", "type": "rate_limit"}})


def completion(content: str) -> str:
    message = {"role": "assistant", "content": content}
    return json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "fake-gpt",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
    )


def run_against(temporal, fake: FakeOpenAI):
    llm = LlmSettings(api_key="sk-test-secret", base_url=fake.base_url)
    with temporal.worker(llm=llm, portal_activities=[publish_gate]) as queue:
        handle = start_loan(temporal, queue)
        gate = wait_for_gate(temporal, handle)
        temporal.run(handle.terminate("test done"))
    return handle, gate


def test_429_waits_exactly_the_retry_after_the_server_asked_for(temporal, transactional_db):
    script = [Fault(429, ERROR, {"retry-after-ms": "1500"}), Fault(503, ERROR, {"retry-after": "2"})]
    with FakeOpenAI(script) as fake:
        _, gate = run_against(temporal, fake)

    first_wait = fake.request_times[1] - fake.request_times[0]
    second_wait = fake.request_times[2] - fake.request_times[1]
    assert 1.5 <= first_wait < 2.5, first_wait
    assert 2.0 <= second_wait < 3.0, second_wait
    assert gate.recommendation.outcome == "approve"
    assert gate.model == "fake-gpt" and not gate.offline_model


def test_malformed_model_output_is_retried_then_referred_to_a_human(temporal, transactional_db):
    with FakeOpenAI([Fault(200, completion("I think yes"))], repeat_last=True) as fake:
        _, gate = run_against(temporal, fake)

    assert len(fake.request_times) == 5  # LLM_RETRY.maximum_attempts, then no crash loop
    assert gate.recommendation.outcome == "refer"
    assert "Malformed model output: the final answer is not JSON" in gate.needs_attention
    projected = Gate.objects.get(gate_id=gate.gate_id)
    assert projected.needs_attention == gate.needs_attention and projected.status == "pending"


def test_an_auth_error_is_not_retried_and_is_shown_on_the_gate(temporal, transactional_db):
    with FakeOpenAI([Fault(401, json.dumps({"error": {"message": "bad key"}}))], repeat_last=True) as fake:
        handle, gate = run_against(temporal, fake)

    assert len(fake.request_times) == 1
    assert "HTTP 401" in gate.needs_attention and gate.recommendation.outcome == "refer"
    history = json.dumps(temporal.run(handle.fetch_history()).to_json_dict())
    assert fake.auth_headers[0] == "Bearer sk-test-secret"
    assert "sk-test-secret" not in history  # the key never enters workflow history

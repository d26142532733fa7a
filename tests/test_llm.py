"""The LLM activity with the real openai client against a real loopback server's faults.

Two kinds of test. Through the workflow on the real dev server: how long Temporal waits between
attempts (measured between request arrivals at the fake server) and what the gate finally shows.
The workflow's LLM retry policy backs off 2 s, 4 s, 8 s, 16 s over 5 attempts, so the provider
asks for 3 s here: told apart from that backoff, and above the second or so Temporal always
waits before a retry (a shorter hint still waits that long). Calling the activity directly:
how each kind of failure is classified (type, retryable, delay), which the workflow cannot see.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from email.utils import formatdate

import pytest
from temporalio.exceptions import ApplicationError

from agents.framework.llm import LlmActivities, LlmSettings
from agents.framework.llm_types import LlmRequest, LlmResponse
from agents.framework.registry import AGENTS
from agents.framework.types import ChatMessage
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from tests.conftest import APPROVABLE, start_loan, wait_for_gate
from tests.fake_openai import FakeOpenAI, Fault

# The model activity against a fake provider, not the portal's database: one CI pass.
pytestmark = pytest.mark.once

API_KEY = "sk-test-secret"
# Scheduling slack allowed above an expected wait: under it, the wrong waits each test rules out
# (the policy's 2 s backoff added to the provider's ask, a tripled backoff) stay ruled out.
SLACK = 2.0


def error(message: str, code: str | None = None) -> str:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": code}})


def completion(content: str | None, finish_reason: str = "stop") -> str:
    message = {"role": "assistant", "content": content}
    return json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "fake-gpt",
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        }
    )


def http_date_seconds_ahead(seconds: int) -> str:
    """An HTTP date `seconds` after the next whole second, so at least `seconds` from now."""
    return formatdate(math.ceil(time.time()) + seconds, usegmt=True)


# The loan agent's model turns to its gate: the answer alone (the credit file, affordability and
# the policy check come before the first turn, as opening calls).
LOAN_TURNS = 1


def run_against(temporal, fake: FakeOpenAI, **settings):
    """Run a loan case on a worker whose provider is `fake`; stop at the gate and return it."""
    llm = LlmSettings(api_key=API_KEY, base_url=fake.base_url, **settings)
    with temporal.worker(llm=llm, portal_activities=PORTAL_ACTIVITIES) as queue:
        handle = start_loan(temporal, queue)
        gate = wait_for_gate(temporal, handle)
        temporal.run(handle.terminate("test done"))
    return handle, gate


def assert_recommended_by_the_provider(gate) -> None:
    assert gate.recommendation.outcome == "approve" and not gate.needs_attention
    assert gate.model == "fake-gpt" and not gate.offline_model


# --- through the workflow: waits and outcomes ----------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "asked", "asked_at_most"),
    [
        (429, {"retry-after-ms": "3000"}, 3.0, 3.0),
        (429, {"Retry-After": "3"}, 3.0, 3.0),
        # 3 s after the next whole second: 3 to 4 s from the moment it is sent
        (429, {"Retry-After": lambda: http_date_seconds_ahead(3)}, 3.0, 4.0),
        (503, {"Retry-After": "3"}, 3.0, 3.0),
    ],
    ids=["429-retry-after-ms", "429-retry-after-seconds", "429-retry-after-http-date", "503-retry-after"],
)
def test_the_retry_waits_as_long_as_the_provider_asked(
    temporal, transactional_db, status, headers, asked, asked_at_most
):
    with FakeOpenAI([Fault(status, error("slow down"), headers)]) as fake:
        _, gate = run_against(temporal, fake)

    [wait] = fake.waits()[:1]
    assert asked <= wait < asked_at_most + SLACK, wait  # not the policy's 2 s backoff, nor both
    assert len(fake.request_times) == 1 + LOAN_TURNS  # the retried call, then the loan agent's turns
    assert_recommended_by_the_provider(gate)


def test_a_huge_retry_after_is_capped_by_the_ceiling(temporal, transactional_db):
    with FakeOpenAI([Fault(429, error("come back tomorrow"), {"Retry-After": "86400"})]) as fake:
        _, gate = run_against(temporal, fake, max_retry_after_seconds=3.0)

    wait = fake.waits()[0]
    assert 3.0 <= wait < 3.0 + SLACK, wait  # the ceiling: neither a day nor the 2 s backoff
    assert_recommended_by_the_provider(gate)


def test_server_errors_are_retried_with_backoff_until_one_succeeds(temporal, transactional_db):
    script = [Fault(500, error("boom")), Fault(502, "<html>Bad gateway</html>", content_type="text/html")]
    with FakeOpenAI(script) as fake:
        _, gate = run_against(temporal, fake)

    first, second = fake.waits()[:2]
    assert 2.0 <= first < 2.0 + SLACK, first  # LLM_RETRY's initial interval
    assert 4.0 <= second < 4.0 + SLACK, second  # doubled by its backoff coefficient
    assert len(fake.request_times) == 2 + LOAN_TURNS
    assert_recommended_by_the_provider(gate)


def test_a_response_slower_than_the_client_timeout_is_retried(temporal, transactional_db):
    with FakeOpenAI([Fault(200, completion("too late"), delay=3.0)]) as fake:
        _, gate = run_against(temporal, fake, request_timeout_seconds=1.0)

    wait = fake.waits()[0]
    # The client's timeout, then the 2 s backoff. The client's clock starts as it sends, the
    # server's as the request has arrived: under load (CI saw 2.970 s) that is up to 0.1 s later.
    assert 1.0 + 2.0 - 0.1 <= wait < 3.0 + SLACK, wait
    assert len(fake.request_times) == 1 + LOAN_TURNS
    assert_recommended_by_the_provider(gate)


def test_a_200_whose_body_is_not_json_is_retried_with_backoff(temporal, transactional_db):
    with FakeOpenAI([Fault(200, "<html>upstream glitch</html>")]) as fake:
        _, gate = run_against(temporal, fake)

    wait = fake.waits()[0]
    assert 2.0 <= wait < 2.0 + SLACK, wait
    assert len(fake.request_times) == 1 + LOAN_TURNS
    assert_recommended_by_the_provider(gate)


def test_x_should_retry_true_retries_a_status_that_is_otherwise_final(temporal, transactional_db):
    with FakeOpenAI([Fault(400, error("try again"), {"x-should-retry": "true"})]) as fake:
        _, gate = run_against(temporal, fake)

    wait = fake.waits()[0]
    assert 2.0 <= wait < 2.0 + SLACK, wait
    assert len(fake.request_times) == 1 + LOAN_TURNS
    assert_recommended_by_the_provider(gate)


def test_x_should_retry_false_forbids_a_retry_even_of_a_503(temporal, transactional_db):
    fault = Fault(503, error("overloaded"), {"x-should-retry": "false", "Retry-After": "1"})
    with FakeOpenAI([fault], repeat_last=True) as fake:
        _, gate = run_against(temporal, fake)

    assert len(fake.request_times) == 1
    assert gate.recommendation.outcome == "refer"
    assert gate.needs_attention == "The model could not be used: Model provider answered HTTP 503: overloaded"


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (
            Fault(400, error("Your request was rejected by the safety system.", "content_policy_violation")),
            "The model could not be used: The model provider refused the request under its content "
            "policy: Your request was rejected by the safety system.",
        ),
        (
            Fault(200, completion(None, finish_reason="content_filter")),
            "The model could not be used: The model provider's content filter withheld the answer.",
        ),
    ],
    ids=["content-policy-error", "content-filter-finish"],
)
def test_a_content_policy_refusal_is_not_retried_and_the_gate_says_why(
    temporal, transactional_db, fault, reason
):
    with FakeOpenAI([fault], repeat_last=True) as fake:
        _, gate = run_against(temporal, fake)

    assert len(fake.request_times) == 1
    assert gate.recommendation.outcome == "refer" and gate.needs_attention == reason
    projected = Gate.objects.get(gate_id=gate.gate_id)
    assert projected.needs_attention == reason and projected.status == "pending"


def test_malformed_model_output_is_retried_then_referred_to_a_human(temporal, transactional_db):
    with FakeOpenAI([Fault(200, completion("I think yes"))], repeat_last=True) as fake:
        _, gate = run_against(temporal, fake)

    assert len(fake.request_times) == 5  # LLM_RETRY.maximum_attempts, then no crash loop
    waits = fake.waits()  # retried soon, not backed off (that would be 2 + 4 + 8 + 16 s)
    assert max(waits) < 4.0 and sum(waits) < 8.0, waits
    assert gate.recommendation.outcome == "refer"
    assert "Malformed model output: the final answer is not JSON" in gate.needs_attention
    projected = Gate.objects.get(gate_id=gate.gate_id)
    assert projected.needs_attention == gate.needs_attention and projected.status == "pending"


def test_an_auth_error_is_not_retried_and_is_shown_on_the_gate(temporal, transactional_db):
    with FakeOpenAI([Fault(401, error("Incorrect API key provided."))], repeat_last=True) as fake:
        handle, gate = run_against(temporal, fake)

    assert len(fake.request_times) == 1
    assert gate.recommendation.outcome == "refer"
    assert gate.needs_attention == (
        "The model could not be used: Model provider answered HTTP 401: Incorrect API key provided."
    )
    history = json.dumps(temporal.run(handle.fetch_history()).to_json_dict())
    assert fake.auth_headers[0] == f"Bearer {API_KEY}"
    assert API_KEY not in history  # the key never enters workflow history


# --- the activity alone: how each failure is classified ------------------------------------


def complete_once(base_url: str, **settings) -> LlmResponse | ApplicationError:
    """One call of the LLM activity for the loan case; its result or the error it raised."""
    spec = AGENTS["loans"].pin()
    request = LlmRequest(
        agent=spec.agent,
        prompt=spec.prompt,
        model=spec.model,
        messages=[ChatMessage(role="user", content=json.dumps(APPROVABLE.__dict__))],
        tools=spec.tools,
    )

    async def call() -> LlmResponse | ApplicationError:
        activities = LlmActivities(LlmSettings(api_key=API_KEY, base_url=base_url, **settings))
        try:
            return await activities.complete(request)
        except ApplicationError as err:
            return err

    return asyncio.run(call())


def classify(fault: Fault, **settings) -> ApplicationError:
    with FakeOpenAI([fault]) as fake:
        failure = complete_once(fake.base_url, **settings)
    assert isinstance(failure, ApplicationError), failure
    return failure


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_a_client_error_is_final(status):
    failure = classify(Fault(status, error("no")))
    assert (failure.type, failure.non_retryable) == ("ModelRequestRejected", True)
    assert failure.message == f"Model provider answered HTTP {status}: no"


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(408, "ModelUnavailable"), (409, "ModelUnavailable"), (429, "ModelRateLimited")]
    + [(status, "ModelUnavailable") for status in (500, 502, 503, 504)],
)
def test_a_transient_status_without_a_hint_is_left_to_the_backoff(status, error_type):
    failure = classify(Fault(status, "<html>oops</html>", content_type="text/html"))
    assert (failure.type, failure.non_retryable, failure.next_retry_delay) == (error_type, False, None)
    assert failure.message.startswith(f"Model provider answered HTTP {status}: ")
    assert "<html>" not in failure.message  # the reason phrase, not the page


def test_a_retry_after_of_zero_is_left_to_the_backoff():
    failure = classify(Fault(429, error("now"), {"Retry-After": "0"}))
    assert (failure.non_retryable, failure.next_retry_delay) == (False, None)


def test_x_should_retry_false_wins_over_a_retry_after():
    failure = classify(Fault(429, error("no"), {"x-should-retry": "false", "retry-after-ms": "10"}))
    assert (failure.type, failure.non_retryable) == ("ModelRateLimited", True)


def test_x_should_retry_true_does_not_retry_a_content_policy_refusal():
    failure = classify(Fault(400, error("no", "content_policy_violation"), {"x-should-retry": "true"}))
    assert (failure.type, failure.non_retryable) == ("ModelContentRefused", True)


@pytest.mark.parametrize(
    "fault",
    [Fault(200, "<html>proxy</html>"), Fault(200, "<html>proxy</html>", content_type="text/html")],
    ids=["labelled-json", "labelled-html"],
)
def test_a_200_that_is_not_json_is_a_malformed_provider_response(fault):
    failure = classify(fault)
    assert (failure.type, failure.non_retryable, failure.next_retry_delay) == (
        "MalformedProviderResponse",
        False,
        None,
    )
    assert failure.message == "The model provider answered HTTP 200, but its body is not JSON."


def test_a_slow_response_fails_with_the_client_timeout():
    failure = classify(Fault(200, completion("late"), delay=2.0), request_timeout_seconds=0.5)
    assert (failure.type, failure.non_retryable) == ("ModelTimeout", False)
    assert failure.message == "The model provider did not answer within 0.5 s."


def test_an_unreachable_provider_is_retried():
    with FakeOpenAI() as fake:
        base_url = fake.base_url
    failure = complete_once(base_url)  # the server is gone: connection refused
    assert isinstance(failure, ApplicationError)
    assert (failure.type, failure.non_retryable) == ("ModelUnreachable", False)
    assert failure.message.startswith("Could not reach the model provider (")

"""The LLM Activity: one chat completion through the `openai` client.

Temporal owns retries (the client's own are off); every failure is an ApplicationError whose type
says what went wrong, so the workflow can show the reason on the gate:

- ModelRateLimited / ModelUnavailable (429; 408, 409, 5xx): retried. A `retry-after-ms` or
  `Retry-After` becomes `next_retry_delay`, so the retry waits exactly as long as the provider
  asked (up to `LlmSettings.max_retry_after_seconds`); otherwise the retry policy's backoff.
- ModelTimeout, ModelUnreachable, MalformedProviderResponse (a 200 that is not a completion):
  retried with the retry policy's backoff.
- ModelRequestRejected (400, 401, 403, 404, 422 and any other 4xx) and ModelContentRefused (a
  content-policy refusal, as an error or as a `content_filter` finish): not retried.
- MalformedModelOutput (a completion we cannot use): retried soon.

The provider's `x-should-retry: true` or `false` overrides the status (not a content refusal).
The API key lives in the worker's environment and never enters history. Without a key the
offline model answers through the same client.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx2
import openai
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionMessage,
)
from openai.types.chat.chat_completion import Choice
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.framework.heartbeat import heartbeating
from agents.framework.llm_types import LlmRequest, LlmResponse
from agents.framework.offline_model import AGENT_HEADER, OFFLINE_MODEL_NAME, OfflineModelTransport
from agents.framework.prompts import pinned_prompt
from agents.framework.redaction import redact
from agents.framework.retry_after import retry_after_seconds
from agents.framework.tools import TOOLS
from agents.framework.types import ChatMessage, Recommendation, ToolCall

# Worth another try: request timeout, lock conflict, rate limit; and every 5xx.
RETRYABLE_STATUS = {408, 409, 429}
CONTENT_POLICY_CODE = "content_policy_violation"
MALFORMED_RETRY_DELAY = timedelta(seconds=1)


@dataclass(frozen=True)
class LlmSettings:
    api_key: str = ""
    base_url: str = ""
    # A provider asking for a longer wait than this is retried after this long instead.
    max_retry_after_seconds: float = 300.0
    # Per HTTP request; below the workflow's start-to-close so a hung request fails with a reason.
    request_timeout_seconds: float = 60.0

    @property
    def offline(self) -> bool:
        return not self.api_key


def build_client(settings: LlmSettings) -> openai.AsyncOpenAI:
    if settings.offline:
        return openai.AsyncOpenAI(
            api_key="offline",
            base_url="http://offline-model.invalid/v1",
            http_client=httpx2.AsyncClient(transport=OfflineModelTransport()),
            max_retries=0,
        )
    return openai.AsyncOpenAI(
        api_key=settings.api_key,
        base_url=settings.base_url or None,
        max_retries=0,
        timeout=settings.request_timeout_seconds,
    )


class LlmActivities:
    def __init__(self, settings: LlmSettings) -> None:
        self._settings = settings
        self._client = build_client(settings)

    @activity.defn(name="llm_complete")
    async def complete(self, request: LlmRequest) -> LlmResponse:
        """Ask the model for the next step: tool calls, or a final recommendation."""
        prompt = pinned_prompt(request.prompt)
        messages = [{"role": "system", "content": prompt.text}]
        messages += [_to_openai(m) for m in request.messages]
        body: dict[str, Any] = {"model": request.model, "messages": messages}
        if request.tools:
            body["tools"] = [TOOLS[name].schema() for name in request.tools]
        started = time.monotonic()
        try:
            async with heartbeating():
                completion = await chat_completion(self._client, body, {AGENT_HEADER: request.agent})
        except (openai.APIError, json.JSONDecodeError) as err:
            raise provider_failure(err, self._settings) from None  # its message may hold the key
        latency_ms = int((time.monotonic() - started) * 1000)
        choice = _first_choice(completion)
        if choice.finish_reason == "content_filter":
            raise ApplicationError(
                "The model provider's content filter withheld the answer.",
                type="ModelContentRefused",
                non_retryable=True,
            )
        message = _from_openai(choice.message)
        recommendation = None if message.tool_calls else _recommendation(message.content, request.outcomes)
        usage = (
            completion.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"})
            if completion.usage
            else {}
        )
        return LlmResponse(
            model=OFFLINE_MODEL_NAME if self._settings.offline else completion.model or request.model,
            offline=self._settings.offline,
            message=message,
            recommendation=recommendation,
            prompt=request.prompt,
            usage=usage,
            latency_ms=latency_ms,
        )


async def chat_completion(
    client: openai.AsyncOpenAI, body: dict[str, Any], headers: dict[str, str]
) -> ChatCompletion:
    """POST /chat/completions with a body already in OpenAI's wire shape (_to_openai,
    Tool.schema), through the SDK's own request path. `chat.completions.create` would first walk
    the body against its TypedDicts, 1.4 ms of CPU a call for a body it sends unchanged. The
    rest is as `create` does it: bearer auth only, no retries (max_retries=0), the same errors
    and the parsed ChatCompletion."""
    return await client.post(
        "/chat/completions",
        body=body,
        cast_to=ChatCompletion,
        options={"headers": headers, "security": {"bearer_auth": True}},
    )


def provider_failure(err: openai.APIError | json.JSONDecodeError, settings: LlmSettings) -> ApplicationError:
    """The ApplicationError for a failed call to the provider: its type, retryability and delay.

    For any activity that calls the provider through `build_client`'s client. A provider may
    echo the key it refused, and the message goes into history and the audit trail: keys and
    token-shaped strings are redacted from it.
    """
    failure = _classify(err, settings)
    return ApplicationError(
        redact(failure.message, [settings.api_key] if settings.api_key else []),
        type=failure.type,
        non_retryable=failure.non_retryable,
        next_retry_delay=failure.next_retry_delay,
    )


def _classify(err: openai.APIError | json.JSONDecodeError, settings: LlmSettings) -> ApplicationError:
    if isinstance(err, openai.APIStatusError):
        return _status_failure(err, settings)
    if isinstance(err, openai.APITimeoutError):
        return ApplicationError(
            f"The model provider did not answer within {settings.request_timeout_seconds:g} s.",
            type="ModelTimeout",
        )
    if isinstance(err, openai.APIConnectionError):
        return ApplicationError(
            f"Could not reach the model provider ({err.__cause__ or err}).", type="ModelUnreachable"
        )
    # A 200 labelled JSON that is not (e.g. a proxy's error page), or one the client rejected.
    return _not_a_completion("its body is not JSON" if isinstance(err, json.JSONDecodeError) else str(err))


def _status_failure(err: openai.APIStatusError, settings: LlmSettings) -> ApplicationError:
    status, headers = err.status_code, err.response.headers
    detail = _provider_detail(err)
    if err.code == CONTENT_POLICY_CODE:
        # The same content is refused again, whatever the provider says about retrying.
        return ApplicationError(
            f"The model provider refused the request under its content policy: {detail}",
            type="ModelContentRefused",
            non_retryable=True,
        )
    summary = f"Model provider answered HTTP {status}: {detail}"
    should_retry = headers.get("x-should-retry", "").strip().lower()
    if should_retry in ("true", "false"):
        retryable = should_retry == "true"
    else:
        retryable = status in RETRYABLE_STATUS or status >= 500
    if status == 429:
        error_type = "ModelRateLimited"
    elif status in RETRYABLE_STATUS or status >= 500:
        error_type = "ModelUnavailable"
    else:
        error_type = "ModelRequestRejected"
    if not retryable:
        return ApplicationError(summary, type=error_type, non_retryable=True)
    delay = retry_after_seconds(headers)
    # No hint, or "now" (a zero delay is no delay to Temporal): the retry policy's backoff.
    if not delay:
        return ApplicationError(summary, type=error_type)
    # The server retries no sooner than about a second after a failure, whatever we ask.
    delay = min(delay, settings.max_retry_after_seconds)
    return ApplicationError(summary, type=error_type, next_retry_delay=timedelta(seconds=delay))


def _provider_detail(err: openai.APIStatusError) -> str:
    """The provider's own error message, else the status's reason phrase (never an HTML page)."""
    message = err.body.get("message") if isinstance(err.body, dict) else None
    if isinstance(message, str) and message.strip():
        return message.strip()
    return err.response.reason_phrase or "no detail"


def _first_choice(completion: object) -> Choice:
    """The completion's first choice, or a failure saying why there is none we can read."""
    if not isinstance(completion, ChatCompletion):  # the client hands back non-JSON text as is
        raise _not_a_completion("its body is not JSON")
    choices = completion.choices
    if not isinstance(choices, list) or not choices:
        raise ApplicationError("The model returned no choices.", type="MalformedModelOutput")
    choice = choices[0]
    if not isinstance(choice, Choice) or not isinstance(choice.message, ChatCompletionMessage):
        raise _not_a_completion("its first choice has no message")
    return choice


def _not_a_completion(detail: str) -> ApplicationError:
    # Most likely a proxy or gateway in trouble, so retried with the policy's backoff.
    return ApplicationError(
        f"The model provider answered HTTP 200, but {detail}.", type="MalformedProviderResponse"
    )


def _to_openai(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    return out


def _from_openai(message: Any) -> ChatMessage:
    calls = []
    for call in message.tool_calls or []:
        try:
            arguments = json.loads(call.function.arguments or "{}")
        except json.JSONDecodeError as err:
            raise _malformed(f"tool arguments for {call.function.name} are not JSON ({err})") from err
        if not isinstance(arguments, dict):
            raise _malformed(f"tool arguments for {call.function.name} are not an object")
        calls.append(ToolCall(id=call.id, name=call.function.name, arguments=arguments))
    return ChatMessage(role="assistant", content=message.content, tool_calls=calls)


def _recommendation(content: str | None, outcomes: list[str]) -> Recommendation:
    """Parse the model's final answer: a JSON object with outcome, rationale, risk_factors and
    an optional structured proposal (e.g. advice text a reviewer may edit)."""
    try:
        data = json.loads(content or "")
    except json.JSONDecodeError as err:
        raise _malformed(f"the final answer is not JSON ({err})") from err
    if not isinstance(data, dict) or data.get("outcome") not in outcomes:
        raise _malformed(f"the final answer has no outcome of {', '.join(outcomes)}")
    rationale = data.get("rationale")
    factors = data.get("risk_factors", [])
    if not isinstance(rationale, str) or not rationale.strip():
        raise _malformed("the final answer has no rationale")
    if not isinstance(factors, list) or not all(isinstance(f, str) for f in factors):
        raise _malformed("risk_factors is not a list of strings")
    proposal = data.get("proposal", {})
    if not isinstance(proposal, dict):
        raise _malformed("proposal is not an object")
    return Recommendation(
        outcome=data["outcome"], rationale=rationale.strip(), risk_factors=factors, proposal=proposal
    )


def _malformed(detail: str) -> ApplicationError:
    # Retryable, soon: a real model may answer well next time, and backing off gains nothing.
    # After the last attempt the workflow refers the case to a human with this message.
    return ApplicationError(
        f"Malformed model output: {detail}.",
        type="MalformedModelOutput",
        next_retry_delay=MALFORMED_RETRY_DELAY,
    )

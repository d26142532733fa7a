"""The LLM Activity: one chat completion through the `openai` client.

Temporal owns retries (the client's own are off). A 429/503 becomes an ApplicationError whose
`next_retry_delay` is the server's Retry-After, so the retry waits exactly as long as asked;
auth errors and bad requests are non-retryable. The API key lives in the worker's environment and
never enters history. Without a key the offline model answers through the same client.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx2
import openai
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.framework.offline_model import AGENT_HEADER, OFFLINE_MODEL_NAME, OfflineModelTransport
from agents.framework.prompts import pinned_prompt
from agents.framework.retry_after import retry_after_seconds
from agents.framework.tools import TOOLS
from agents.framework.types import ChatMessage, LlmRequest, LlmResponse, Recommendation, ToolCall

OUTCOMES = ("approve", "decline", "refer")
NON_RETRYABLE_STATUS = {400, 401, 403, 404, 422}
MALFORMED_RETRY_DELAY = timedelta(seconds=1)


@dataclass(frozen=True)
class LlmSettings:
    api_key: str = ""
    base_url: str = ""
    # A provider asking for a longer wait than this is retried after this long instead.
    max_retry_after_seconds: float = 300.0
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
        tools = [TOOLS[name].schema() for name in request.tools]
        started = time.monotonic()
        try:
            completion = await self._client.chat.completions.create(
                model=request.model,
                messages=messages,
                tools=tools or openai.omit,
                extra_headers={AGENT_HEADER: request.agent},
            )
        except openai.APIStatusError as err:
            raise self._status_failure(err) from err
        except openai.APIConnectionError as err:
            raise ApplicationError(
                f"Could not reach the model provider: {err}", type="ModelUnavailable"
            ) from err
        latency_ms = int((time.monotonic() - started) * 1000)
        if not completion.choices:
            raise ApplicationError("The model returned no choices.", type="MalformedModelOutput")
        message = _from_openai(completion.choices[0].message)
        recommendation = None if message.tool_calls else _recommendation(message.content)
        usage = (
            completion.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"})
            if completion.usage
            else {}
        )
        return LlmResponse(
            model=OFFLINE_MODEL_NAME if self._settings.offline else completion.model,
            offline=self._settings.offline,
            message=message,
            recommendation=recommendation,
            prompt=request.prompt,
            usage=usage,
            latency_ms=latency_ms,
        )

    def _status_failure(self, err: openai.APIStatusError) -> ApplicationError:
        status = err.status_code
        headers = err.response.headers
        summary = f"Model provider answered HTTP {status}: {err.message}"
        should_retry = headers.get("x-should-retry")
        if status in NON_RETRYABLE_STATUS or should_retry == "false":
            return ApplicationError(summary, type="ModelRequestRejected", non_retryable=True)
        delay = retry_after_seconds(headers)
        if delay is None:
            return ApplicationError(summary, type="ModelUnavailable")
        delay = min(delay, self._settings.max_retry_after_seconds)
        return ApplicationError(summary, type="ModelRateLimited", next_retry_delay=timedelta(seconds=delay))


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


def _recommendation(content: str | None) -> Recommendation:
    """Parse the model's final answer: a JSON object with outcome, rationale, risk_factors."""
    try:
        data = json.loads(content or "")
    except json.JSONDecodeError as err:
        raise _malformed(f"the final answer is not JSON ({err})") from err
    if not isinstance(data, dict) or data.get("outcome") not in OUTCOMES:
        raise _malformed("the final answer has no outcome of approve, decline or refer")
    rationale = data.get("rationale")
    factors = data.get("risk_factors", [])
    if not isinstance(rationale, str) or not rationale.strip():
        raise _malformed("the final answer has no rationale")
    if not isinstance(factors, list) or not all(isinstance(f, str) for f in factors):
        raise _malformed("risk_factors is not a list of strings")
    return Recommendation(outcome=data["outcome"], rationale=rationale.strip(), risk_factors=factors)


def _malformed(detail: str) -> ApplicationError:
    # Retryable, soon: a real model may answer well next time, and backing off gains nothing.
    # After the last attempt the workflow refers the case to a human with this message.
    return ApplicationError(
        f"Malformed model output: {detail}.",
        type="MalformedModelOutput",
        next_retry_delay=MALFORMED_RETRY_DELAY,
    )

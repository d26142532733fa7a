"""The summarise Activity: condenses old turns before a long agent loop continues-as-new.

It uses the same client and provider settings as the LLM activity; the offline model answers it
with a deterministic digest of the tool calls and results.
"""

from __future__ import annotations

import json

import openai
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.framework.heartbeat import heartbeating
from agents.framework.llm import LlmSettings, build_client, provider_failure
from agents.framework.llm_types import SummariseRequest, SummariseResponse
from agents.framework.offline_model import OFFLINE_MODEL_NAME, TASK_HEADER
from agents.framework.prompts import SUMMARISE_PROMPT, latest_prompt, pinned_prompt
from agents.framework.types import ChatMessage


class SummariseActivities:
    def __init__(self, settings: LlmSettings) -> None:
        self._settings = settings
        self._client = build_client(settings)

    @activity.defn(name="llm_summarise")
    async def summarise(self, request: SummariseRequest) -> SummariseResponse:
        """Summarise `request.messages` (the turns about to be pruned) in a few paragraphs."""
        # Runs pinned before the summarise prompt was pinned use the latest version.
        prompt = pinned_prompt(request.prompt) if request.prompt else latest_prompt(SUMMARISE_PROMPT)
        try:
            async with heartbeating():
                completion = await self._client.chat.completions.create(
                    model=request.model,
                    messages=[
                        {"role": "system", "content": prompt.text},
                        {"role": "user", "content": transcript(request.messages)},
                    ],
                    extra_headers={TASK_HEADER: "summarise"},
                )
        except (openai.APIError, json.JSONDecodeError) as err:
            raise provider_failure(err, self._settings) from None  # its message may hold the key
        summary = (completion.choices[0].message.content or "").strip() if completion.choices else ""
        if not summary:
            raise ApplicationError("The model returned an empty summary.", type="MalformedModelOutput")
        usage = (
            completion.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"})
            if completion.usage
            else {}
        )
        return SummariseResponse(
            summary=summary,
            model=OFFLINE_MODEL_NAME if self._settings.offline else completion.model,
            prompt=prompt.ref,
            usage=usage,
        )


def transcript(messages: list[ChatMessage]) -> str:
    """The turns as plain text, one line per tool call, tool result or model message."""
    lines = []
    for message in messages:
        for call in message.tool_calls:
            lines.append(f"CALL {call.name} {json.dumps(call.arguments, sort_keys=True)}")
        if message.role == "tool":
            lines.append(f"RESULT {message.tool_call_id} {message.content}")
        elif message.content:
            lines.append(f"{message.role.upper()} {message.content}")
    return "\n".join(lines)

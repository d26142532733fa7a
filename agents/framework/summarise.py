"""The summarise Activity: condenses old turns before a long agent loop continues-as-new.

It uses the same client and provider settings as the LLM activity; the offline model answers it
with a deterministic digest of the tool calls and results.
"""

from __future__ import annotations

import json
from collections import Counter

import openai
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.framework.heartbeat import heartbeating
from agents.framework.llm import LlmSettings, build_client, chat_completion, provider_failure
from agents.framework.llm_types import SummariseRequest, SummariseResponse
from agents.framework.offline_model import OFFLINE_MODEL_NAME, TASK_HEADER
from agents.framework.prompts import SUMMARISE_PROMPT, latest_prompt, pinned_prompt
from agents.framework.types import ChatMessage

# How pruning introduces a summary (agents/framework/pruning.py), and what a transcript keeps of
# the chain: the latest calls and results in full, the earlier calls counted by tool.
SUMMARY_PREFIX = "Summary of the earlier turns:"
TALLY = "CALLS "
KEPT_CALLS = 6
KEPT_RESULTS = 2


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
                messages = [
                    {"role": "system", "content": prompt.text},
                    {"role": "user", "content": transcript(request.messages)},
                ]
                body = {"model": request.model, "messages": messages}
                completion = await chat_completion(self._client, body, {TASK_HEADER: "summarise"})
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
    """The turns as plain text, one line per tool call, tool result or model message, in order.

    Bounded however long the chain: a previous summary's own CALL and RESULT lines count as turns,
    only the latest KEPT_CALLS calls (and the latest of each tool) and KEPT_RESULTS results are
    written out, and the older calls are counted by tool on one `CALLS {"tool": n}` line (adding
    up the counts of earlier ones).
    So summarising again condenses the previous summary instead of appending to it.
    """
    entries: list[str] = []
    tally: Counter[str] = Counter()
    for message in messages:
        content = message.content or ""
        if message.role == "user" and content.startswith(SUMMARY_PREFIX):
            lines = content.splitlines()[1:]
            tally.update(sum((_counts(line) for line in lines if line.startswith(TALLY)), Counter()))
            words = [line for line in lines if line.strip() and not line.startswith(("CALL", "RESULT "))]
            entries.append("\n".join(["USER " + SUMMARY_PREFIX, *words]))
            entries.extend(line for line in lines if line.startswith(("CALL ", "RESULT ")))
            continue
        for call in message.tool_calls:
            entries.append(f"CALL {call.name} {json.dumps(call.arguments, sort_keys=True)}")
        if message.role == "tool":
            entries.append(f"RESULT {message.tool_call_id} {message.content}")
        elif content:
            entries.append(f"{message.role.upper()} {content}")
    calls = [i for i, e in enumerate(entries) if e.startswith("CALL ")]
    results = [i for i, e in enumerate(entries) if e.startswith("RESULT ")]
    latest_of_each = {_tool(entries[i]): i for i in calls}.values()
    dropped = (set(calls[: max(len(calls) - KEPT_CALLS, 0)]) - set(latest_of_each)) | set(
        results[: max(len(results) - KEPT_RESULTS, 0)]
    )
    tally.update(_tool(entries[i]) for i in calls if i in dropped)
    kept = [e for i, e in enumerate(entries) if i not in dropped]
    head = [TALLY + json.dumps(dict(sorted(tally.items())))] if tally else []
    return "\n".join([*head, *kept])


def _tool(call_line: str) -> str:
    return call_line.split(" ", 2)[1]


def _counts(line: str) -> Counter[str]:
    """The counts of a `CALLS {...}` line; a line shortened or garbled counts nothing."""
    try:
        counts = json.loads(line.removeprefix(TALLY))
    except json.JSONDecodeError:
        return Counter()
    if not isinstance(counts, dict):
        return Counter()
    return Counter({str(k): v for k, v in counts.items() if isinstance(v, int) and v > 0})

"""The deterministic offline model: an httpx transport that answers chat completions locally.

It plugs into the real `openai` client, so the LLM Activity runs the same code path with or
without a provider. Each team supplies its agent's behaviour as an OfflinePolicy in its spec.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx2

AGENT_HEADER = "X-Reviewer-Portal-Agent"
TASK_HEADER = "X-Reviewer-Portal-Task"
SUMMARY_LINE_LIMIT = 400
OFFLINE_MODEL_NAME = "offline model"


class OfflineModelTransport(httpx2.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        from agents.framework.registry import AGENTS

        body = json.loads(await request.aread())
        if request.headers.get(TASK_HEADER) == "summarise":
            return httpx2.Response(200, json=_completion(body, {"content": _digest(body)}), request=request)
        spec = AGENTS.get(request.headers.get(AGENT_HEADER, ""))
        if spec is None:
            error = {
                "error": {
                    "message": "The offline model knows no such agent.",
                    "type": "invalid_request_error",
                }
            }
            return httpx2.Response(400, json=error, request=request)
        reply = spec.offline_policy(body["messages"])
        return httpx2.Response(200, json=_completion(body, reply), request=request)


def _completion(body: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
    turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
    calls: list[dict[str, Any]] = [
        {
            # Unique across a continue-as-new chain too (its turns count from 0 again in each run).
            "id": f"call_{turn}_{i}_{_conversation_tag(body)}",
            "type": "function",
            "function": {"name": c["name"], "arguments": json.dumps(c["arguments"], sort_keys=True)},
        }
        for i, c in enumerate(reply.get("tool_calls", []))
    ]
    message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
    if calls:
        message["tool_calls"] = calls
    prompt_chars = sum(len(m.get("content") or "") for m in body["messages"])
    completion_chars = len(reply.get("content") or "") + sum(len(c["function"]["arguments"]) for c in calls)
    return {
        "id": f"offline-{turn}",
        "object": "chat.completion",
        "created": 0,
        "model": OFFLINE_MODEL_NAME,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
        "usage": {
            "prompt_tokens": prompt_chars // 4,
            "completion_tokens": completion_chars // 4,
            "total_tokens": (prompt_chars + completion_chars) // 4,
        },
    }


def _conversation_tag(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).hexdigest()[:8]


def _digest(body: dict[str, Any]) -> str:
    """The offline summary: every tool call and result line of the transcript, each shortened."""
    transcript = body["messages"][-1]["content"]
    lines = [
        line[:SUMMARY_LINE_LIMIT]
        for line in transcript.splitlines()
        if line.startswith(("CALL ", "CALLS ", "RESULT "))
    ]
    return "\n".join(["Earlier turns (offline digest):", *lines])


def tool_results(messages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """For offline policies: each tool's latest result in the conversation, by tool name. A result
    in words rather than JSON (a reviewer's refusal of a gated call) reads as {"error": text}."""
    names = {
        call["id"]: call["function"]["name"]
        for m in messages
        if m["role"] == "assistant"
        for call in m.get("tool_calls") or []
    }
    found: dict[str, dict[str, Any]] = {}
    for message in messages:
        name = names.get(message.get("tool_call_id", "")) if message["role"] == "tool" else None
        if name is not None:
            try:
                found[name] = json.loads(message["content"])
            except json.JSONDecodeError:
                found[name] = {"error": message["content"]}
    return found


def submitted_case(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """For offline policies: the case the run was given (its first user message)."""
    case: dict[str, Any] = json.loads(next(m["content"] for m in messages if m["role"] == "user"))
    return case

"""The tool calls a run makes before the model's first turn (`AgentRunSpec.opening_calls`).

They go into the conversation as an assistant turn of the framework's own, which says so, so the
model starts from their results and the audit trail shows who asked. Calls that read earlier
opening calls' results (`OpeningCall.results`, pinned as `opening_calls_after`) follow in a second
such turn, once those results are in. Pure and deterministic: the workflow builds them from the
pinned spec, the case and the results alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agents.framework.types import BY_FRAMEWORK, ChatMessage, OpeningCall, ToolCall, ToolResult

OPENING_NOTE = (
    "The framework made these tool calls before your first turn, as this agent's specification "
    "requires; their results follow. Do not call them again."
)


def opening_turn(
    calls: list[OpeningCall],
    case: dict[str, Any],
    earlier: Iterable[ToolResult] = (),
    *,
    start: int = 1,
) -> ChatMessage | None:
    """The assistant turn that makes the calls whose values are all there, or None if none is.

    A call is made only with every argument it maps present (not null): in the case, or in the
    result of an earlier opening call (`earlier`, the framework's own; a failed one has none).
    Otherwise it is left to the model, which the prompt tells which tools to call (a partial call
    would only fail). Ids are nine letters and digits, which every OpenAI-compatible API takes,
    numbered from `start` (a second turn goes on from the first's)."""
    results = {
        r.name: r.result
        for r in earlier
        if r.ok and r.requested_by == BY_FRAMEWORK and isinstance(r.result, dict)
    }
    made = [
        ToolCall(f"opening{number:02d}", call.tool, arguments, requested_by=BY_FRAMEWORK)
        for number, call in enumerate(calls, start=start)
        if (arguments := _arguments(call, case, results)) is not None
    ]
    return ChatMessage(role="assistant", content=OPENING_NOTE, tool_calls=made) if made else None


def _arguments(
    call: OpeningCall, case: dict[str, Any], results: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    arguments = {arg: case.get(name) for arg, name in call.arguments.items()}
    for arg, reference in call.results.items():
        tool, _, name = reference.rpartition(".")  # tool names have dots of their own
        arguments[arg] = results.get(tool, {}).get(name)
    return None if any(value is None for value in arguments.values()) else arguments

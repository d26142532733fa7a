"""The tool calls a run makes before the model's first turn (`AgentRunSpec.opening_calls`).

They go into the conversation as an assistant turn of the framework's own, which says so, so the
model starts from their results and the audit trail shows who asked. Pure and deterministic: the
workflow builds them from the pinned spec and the case alone.
"""

from __future__ import annotations

from typing import Any

from agents.framework.types import BY_FRAMEWORK, ChatMessage, OpeningCall, ToolCall

OPENING_NOTE = (
    "The framework made these tool calls before your first turn, as this agent's specification "
    "requires; their results follow. Do not call them again."
)


def opening_turn(calls: list[OpeningCall], case: dict[str, Any]) -> ChatMessage | None:
    """The assistant turn that makes the calls whose fields the case has, or None if none has.

    A call is made only with every argument it maps present in the case (and not null);
    otherwise it is left to the model, which the prompt tells which tools to call (a partial call
    would only fail). Ids are nine letters and digits, which every OpenAI-compatible API takes."""
    made = [
        ToolCall(
            f"opening{number:02d}",
            call.tool,
            {arg: case[name] for arg, name in call.arguments.items()},
            requested_by=BY_FRAMEWORK,
        )
        for number, call in enumerate(calls, start=1)
        if all(case.get(name) is not None for name in call.arguments.values())
    ]
    return ChatMessage(role="assistant", content=OPENING_NOTE, tool_calls=made) if made else None

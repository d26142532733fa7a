"""Which tool calls of a run's trail the framework made before the model's first turn (its
opening calls, agents/framework/opening_calls.py): evidence every case gets, not the AI's choice.

The trail tells them from the first LLM call's input, as that call is made: the framework's
assistant turns say who asked, with the arguments given (a local tool's marker has none). A run
continued before that call carries its conversation summarised, and says so in its carried
results instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from agents.framework.types import BY_FRAMEWORK

# How the trail marks such a call.
FRAMEWORK_CALL = ", made by the framework before the AI's first turn"


class ToolEntry(Protocol):
    title: str
    data: dict[str, Any]


def made_by_framework(request: Mapping[str, Any], *, carried: bool = False) -> dict[str, list[Any]]:
    """The framework's calls in a model request (or, `carried`, a carry), by tool name, each
    with its arguments in the order made (None where only a carried result says so)."""
    made: dict[str, list[Any]] = {}
    for message in request.get("messages") or []:
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict) and call.get("requested_by") == BY_FRAMEWORK:
                made.setdefault(str(call.get("name")), []).append(call.get("arguments"))
    for result in (request.get("results") or []) if carried else []:
        if isinstance(result, dict) and result.get("requested_by") == BY_FRAMEWORK:
            made.setdefault(str(result.get("name")), []).append(None)
    return made


def credit_framework(entries: Iterable[ToolEntry], made: dict[str, list[Any]]) -> None:
    """Mark the tool entries the framework made as its own, in the order made, with their
    arguments where the entry has none."""
    for entry in entries:
        calls = made.get(entry.data["tool"])
        if calls:
            entry.title += FRAMEWORK_CALL
            entry.data["requested_by"] = BY_FRAMEWORK
            if (arguments := calls.pop(0)) is not None:
                entry.data.setdefault("arguments", arguments)

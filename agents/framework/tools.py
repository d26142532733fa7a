"""The tool registry: a team's tools are Activities, described to the model by a JSON schema.

    @tool("loans.credit_bureau", "Look up the applicant's credit file.")
    async def credit_bureau(args: CreditBureauArgs) -> dict: ...

The workflow calls a tool by its registered name with the model's arguments; the argument
dataclass gives both the schema the model sees and the typed value the activity receives.

A short, deterministic tool (a calculation, a rule check: no network, well under a second) can
be declared `local=True`: it then runs as a local activity, inside the workflow task that asks
for it, on the same worker. Its result is recorded in history as a marker, not as three events
and a workflow task of its own, so a run reaches its gate in fewer round trips.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import activity

from agents.framework.heartbeat import heartbeating

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args_type: type
    activity: Callable[..., Any]
    local: bool = False

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-tool definition for this tool."""
        hints = typing.get_type_hints(self.args_type)
        fields = dataclasses.fields(self.args_type)
        properties = {f.name: _json_schema(hints[f.name]) for f in fields}
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {
                    "type": "object",
                    "properties": properties,
                    "required": [f.name for f in fields],
                },
            },
        }


def _json_schema(hint: Any) -> dict[str, Any]:
    """A tool argument's JSON schema: a scalar, or a list of scalars (e.g. `list[str]`)."""
    if typing.get_origin(hint) is list:
        [item] = typing.get_args(hint)
        return {"type": "array", "items": {"type": _JSON_TYPES[item]}}
    return {"type": _JSON_TYPES[hint]}


TOOLS: dict[str, Tool] = {}


def tool(
    name: str, description: str, *, local: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function taking one dataclass as a tool Activity named `name`.

    Async tools heartbeat while they run (the workflow gives tools a heartbeat timeout, so a
    crashed worker's tool call is retried in seconds); a sync tool must call
    `activity.heartbeat()` itself if it can run longer than that timeout. A `local` tool runs as
    a local activity (see above): it does not heartbeat, and a worker lost mid-call is noticed by
    the workflow task's timeout, after which the call runs again.
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        args_type = next(iter(typing.get_type_hints(fn).values()))
        beats = inspect.iscoroutinefunction(fn) and not local
        defined = activity.defn(name=name)(_heartbeating(fn) if beats else fn)
        TOOLS[name] = Tool(name, description, args_type, defined, local)
        return defined

    return register


def _heartbeating(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def run(*args: Any) -> Any:
        async with heartbeating():
            return await fn(*args)

    return run

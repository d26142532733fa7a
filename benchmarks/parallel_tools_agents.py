"""The two benchmark agents of parallel_tools.py: five tools that each sleep the milliseconds
they are given, and an offline policy that asks for them all in one turn or one per turn."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the framework is imported where used: run as a script, the repo is on the path late
    from agents.framework.registry import AgentSpec

TOOL_COUNT = 5
TOOL_PREFIX = "bench.sleep_"
PROMPT_ID = "bench.parallel_tools"
ANSWER = {
    "content": json.dumps({"outcome": "approve", "rationale": "Every tool answered.", "risk_factors": []})
}


@dataclass
class SleepArgs:
    milliseconds: int


def _sleep_tool(index: int) -> Callable[..., Any]:
    from agents.framework.tools import tool

    async def sleep(args: SleepArgs) -> dict:
        await asyncio.sleep(args.milliseconds / 1000)
        return {"tool": index, "slept_ms": args.milliseconds}

    return tool(f"{TOOL_PREFIX}{index}", f"Sleep the given milliseconds (benchmark tool {index}).")(sleep)


def _tool_call(index: int, messages: list[dict[str, Any]]) -> dict[str, Any]:
    case = json.loads(next(m["content"] for m in messages if m["role"] == "user"))
    return {"name": f"{TOOL_PREFIX}{index}", "arguments": {"milliseconds": case["tool_ms"]}}


def parallel_policy(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """All five tools in the first turn, then the answer."""
    if any(m["role"] == "tool" for m in messages):
        return ANSWER
    return {"tool_calls": [_tool_call(i, messages) for i in range(1, TOOL_COUNT + 1)]}


def sequential_policy(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """One tool per turn, the next after the last one's result, then the answer."""
    done = sum(1 for m in messages if m["role"] == "tool")
    return ANSWER if done >= TOOL_COUNT else {"tool_calls": [_tool_call(done + 1, messages)]}


def register_agents(prompt_folder: Path) -> tuple[AgentSpec, AgentSpec]:
    """Register the benchmark's prompt, its five tools and its two agents with the framework."""
    from agents.framework.prompts import register_prompts
    from agents.framework.registry import AgentSpec, register
    from agents.framework.types import GatePolicy

    (prompt_folder / f"{PROMPT_ID}.v1.md").write_text("Call the tools you are given, then approve.\n")
    register_prompts(prompt_folder)
    tools = [_sleep_tool(i) for i in range(1, TOOL_COUNT + 1)]

    def agent(name: str, policy: Callable[[list[dict[str, Any]]], dict[str, Any]]) -> AgentSpec:
        return register(
            AgentSpec(
                name=name,
                title=f"Benchmark: {TOOL_COUNT} tools, {name.rpartition('.')[2]}",
                prompt_id=PROMPT_ID,
                model="offline",
                tools=[f"{TOOL_PREFIX}{i}" for i in range(1, TOOL_COUNT + 1)],
                # Never decided: each run is terminated once it reaches this gate.
                gate=GatePolicy(kind="benchmark", role="nobody", sla_seconds=3600),
                activities=tools,
                offline_policy=policy,
                max_turns=TOOL_COUNT + 2,
            )
        )

    return agent("bench.parallel", parallel_policy), agent("bench.sequential", sequential_policy)

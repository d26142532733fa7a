"""A test agent whose every step leaves a countable side effect, for the worker-crash test.

Each tool, each offline-model call and each downstream action appends one line
"<activity type> <activity id> attempt=<n>" to the file named by DURABLE_SIDE_EFFECTS, read when
the activity runs (the worker is a subprocess the test starts with that variable set). Joined with
the workflow history by activity id, the file shows how often each activity really executed.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio import activity

from agents.framework.prompts import register_prompts
from agents.framework.registry import AgentSpec, register
from agents.framework.tools import tool
from agents.framework.types import GatePolicy, GateSnapshot

SIDE_EFFECTS_ENV = "DURABLE_SIDE_EFFECTS"
STEPS = 5
STEP_TOOLS = tuple(f"durable.step_{n}" for n in range(1, STEPS + 1))
# Long enough that a test can kill the worker while a step runs, short enough to keep it quick.
STEP_SECONDS = 0.5

register_prompts(Path(__file__).parent / "prompts")


def record_side_effect() -> None:
    """Append this activity execution to the side-effect log; call only inside an activity."""
    path = os.environ.get(SIDE_EFFECTS_ENV)
    if not path:
        return
    info = activity.info()
    with open(path, "a") as log:
        log.write(f"{info.activity_type} {info.activity_id} attempt={info.attempt}\n")


@dataclass
class StepArgs:
    step: int


def _step_tool(step: int) -> Any:
    # The effect comes first, then the slow part: a crash mid-step leaves an effect whose
    # completion Temporal never heard of, the case at-least-once execution must allow.
    async def run_step(args: StepArgs) -> dict:
        record_side_effect()
        await asyncio.sleep(STEP_SECONDS)
        return {"step": args.step, "passed": True}

    return tool(STEP_TOOLS[step - 1], f"Run check {step} of {STEPS}.")(run_step)


step_activities = [_step_tool(step) for step in range(1, STEPS + 1)]


@activity.defn(name="durable.fulfil")
async def fulfil(gate: GateSnapshot) -> dict:
    """Downstream action after approval: the one effect that must never happen twice."""
    record_side_effect()
    return {"action": "fulfilled", "approved_by": gate.decided_by}


@activity.defn(name="durable.withdraw")
async def withdraw(gate: GateSnapshot) -> dict:
    """Downstream action after rejection."""
    record_side_effect()
    return {"action": "withdrawn", "rejected_by": gate.decided_by}


def durable_policy(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """One step per turn, then approve. Runs inside the LLM activity, so it counts LLM calls."""
    record_side_effect()
    done = sum(1 for m in messages if m["role"] == "tool")
    if done < STEPS:
        return {"tool_calls": [{"name": STEP_TOOLS[done], "arguments": {"step": done + 1}}]}
    answer = {"outcome": "approve", "rationale": f"All {STEPS} checks passed.", "risk_factors": []}
    return {"content": json.dumps(answer)}


DURABLE_AGENT = register(
    AgentSpec(
        name="durable",
        title="Durability test agent",
        prompt_id="durable.steps",
        model="offline",
        tools=STEP_TOOLS,
        gate=GatePolicy(kind="durable_check", role="credit_officer", sla_seconds=3600),
        on_approve="durable.fulfil",
        on_reject="durable.withdraw",
        activities=(*step_activities, fulfil, withdraw),
        offline_policy=durable_policy,
        max_turns=STEPS + 2,
    )
)

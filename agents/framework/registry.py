"""Agent specs: what a team registers so the shared Workflow can run its agent."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from agents.framework.prompts import latest_prompt
from agents.framework.types import AgentRunSpec, EscalationStep, GatePolicy

# The offline model's behaviour for one agent: OpenAI-style messages in, an assistant message out
# ({"content": ...} or {"tool_calls": [{"name": ..., "arguments": {...}}]}).
OfflinePolicy = Callable[[list[dict[str, Any]]], dict[str, Any]]


@dataclass(frozen=True)
class AgentSpec:
    name: str
    title: str
    prompt_id: str
    model: str
    tools: Sequence[str]
    gate: GatePolicy
    on_approve: str
    on_reject: str
    activities: Sequence[Callable[..., Any]]
    offline_policy: OfflinePolicy
    max_turns: int = 6

    def pin(
        self,
        *,
        model: str | None = None,
        sla_seconds: int | None = None,
        escalation_sla_seconds: int | None = None,
    ) -> AgentRunSpec:
        """The snapshot a new run starts with: latest prompt version, deployment's SLAs."""
        gate = self.gate
        if sla_seconds is not None:
            gate = replace(gate, sla_seconds=sla_seconds)
        if escalation_sla_seconds is not None:
            gate = replace(
                gate, escalations=[EscalationStep(s.role, escalation_sla_seconds) for s in gate.escalations]
            )
        return AgentRunSpec(
            agent=self.name,
            prompt=latest_prompt(self.prompt_id).ref,
            model=model or self.model,
            tools=list(self.tools),
            gate=replace(gate, escalations=list(gate.escalations)),
            on_approve=self.on_approve,
            on_reject=self.on_reject,
            max_turns=self.max_turns,
        )


AGENTS: dict[str, AgentSpec] = {}


def register(spec: AgentSpec) -> AgentSpec:
    AGENTS[spec.name] = spec
    return spec


def load_agent_packages(packages: Sequence[str]) -> dict[str, AgentSpec]:
    """Import each team package; importing it registers its spec, prompts and tools."""
    for package in packages:
        importlib.import_module(package)
    return AGENTS

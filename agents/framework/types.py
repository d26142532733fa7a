"""Dataclasses that cross the Workflow boundary: inputs, outputs, Update arguments.

Everything here is plain data so it serialises into Workflow history as JSON. No Django, no openai.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class PromptRef:
    """Which system prompt a run pinned: id, version and the sha256 of its text."""

    id: str
    version: int
    sha256: str


@dataclass
class EscalationStep:
    role: str
    sla_seconds: int


@dataclass
class GatePolicy:
    """Who decides a gate, how long they have, and what happens when nobody does."""

    kind: str
    role: str
    sla_seconds: int
    escalations: list[EscalationStep] = field(default_factory=list)
    # After the last SLA: the gate is rejected with this reason. Never auto-approved.
    expiry_reason: str = "No decision within the SLA after escalation."


@dataclass
class AgentRunSpec:
    """The spec snapshot a run pins when it starts, so config changes reach new runs only."""

    agent: str
    prompt: PromptRef
    model: str
    tools: list[str]
    gate: GatePolicy
    on_approve: str
    on_reject: str
    max_turns: int = 6


@dataclass
class AgentInput:
    spec: AgentRunSpec
    subject: str
    case: dict[str, Any]
    submitted_by: str


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class ChatMessage:
    role: str
    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None


@dataclass
class Recommendation:
    outcome: str  # "approve" | "decline" | "refer"
    rationale: str
    risk_factors: list[str] = field(default_factory=list)


@dataclass
class LlmRequest:
    agent: str
    prompt: PromptRef
    model: str
    messages: list[ChatMessage]
    tools: list[str]


@dataclass
class LlmResponse:
    model: str
    offline: bool
    message: ChatMessage
    recommendation: Recommendation | None
    prompt: PromptRef
    usage: dict[str, int] = field(default_factory=dict)
    latency_ms: int = 0


@dataclass
class ToolResult:
    call_id: str
    name: str
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class GateSnapshot:
    """A gate as the workflow sees it; published to the portal's projection by version."""

    gate_id: str
    workflow_id: str
    agent: str
    kind: str
    subject: str
    case: dict[str, Any]
    submitted_by: str
    recommendation: Recommendation
    tool_results: list[ToolResult]
    model: str
    offline_model: bool
    role: str
    sla_seconds: int
    opened_at: datetime
    deadline: datetime
    status: str = "pending"  # "pending" | "approved" | "rejected"
    escalation_level: int = 0
    needs_attention: str = ""
    decided_by: str = ""
    decided_at: datetime | None = None
    reason: str = ""
    version: int = 1


@dataclass
class DecideInput:
    gate_id: str
    decision: str  # "approve" | "reject"
    reason: str
    reviewer: str
    reviewer_roles: list[str]


@dataclass
class DecideResult:
    gate: GateSnapshot


@dataclass
class AgentResult:
    gate: GateSnapshot
    outcome: str
    action: dict[str, Any]

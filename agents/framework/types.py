"""Dataclasses that cross the Workflow boundary: inputs, outputs, Update arguments.

Everything here is plain data so it serialises into Workflow history as JSON. No Django, no openai.
Fields added later always have defaults, so histories recorded before them still replay.

No `from __future__ import annotations` in the modules of these classes (types, run_spec,
llm_types, gate_changes): Temporal's converter reads a dataclass's type hints for every value it
decodes, and string annotations are evaluated again each time (about 3 ms of worker CPU per loan
run); tests/test_payload_types.py keeps them out.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The run spec and its policies live in run_spec.py; they cross the boundary with the rest. (A
# workflow that decodes them imports run_spec through the sandbox too: see run_state.py.)
from agents.framework.run_spec import ADMIN_ROLE as ADMIN_ROLE
from agents.framework.run_spec import LOAN_OUTCOMES as LOAN_OUTCOMES
from agents.framework.run_spec import AgentRunSpec as AgentRunSpec
from agents.framework.run_spec import ApprovalRule as ApprovalRule
from agents.framework.run_spec import EscalationStep as EscalationStep
from agents.framework.run_spec import GatePolicy as GatePolicy
from agents.framework.run_spec import OpeningCall as OpeningCall
from agents.framework.run_spec import PreparedCase as PreparedCase
from agents.framework.run_spec import PromptRef as PromptRef

# Who asked for a tool call: the model, or the framework (a spec's opening calls).
BY_MODEL, BY_FRAMEWORK = "model", "framework"


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    requested_by: str = BY_MODEL
    # The id the provider gave the call, where the workflow numbered it (agents/framework/call_ids.py).
    provider_id: str = ""


@dataclass
class ChatMessage:
    role: str
    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None


@dataclass
class Recommendation:
    outcome: str
    rationale: str
    risk_factors: list[str] = field(default_factory=list)
    # The structured action proposed (advice text, a finding's details); reviewers may edit the
    # fields the spec marks editable.
    proposal: dict[str, Any] = field(default_factory=dict)


@dataclass
class ToolResult:
    call_id: str
    name: str
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = None
    requested_by: str = BY_MODEL


@dataclass
class Annotation:
    author: str
    text: str
    at: datetime
    author_id: str = ""


@dataclass
class Revision:
    """A recommendation a reviewer sent back to the agent, and what they asked for."""

    recommendation: Recommendation
    requested_by: str
    instructions: str
    at: datetime


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
    prompt: PromptRef | None = None
    editable: list[str] = field(default_factory=list)
    edits: dict[str, Any] = field(default_factory=dict)
    edit_diff: str = ""
    annotations: list[Annotation] = field(default_factory=list)
    # For a gate on a tool call: the call that runs only once a reviewer approves it.
    tool_call: ToolCall | None = None
    assignee: str = ""
    supervisors: list[str] = field(default_factory=list)
    bulk_allowed: bool = False
    priority: str = "normal"
    # Earlier recommendations a reviewer sent back with instructions, oldest first.
    revisions: list[Revision] = field(default_factory=list)
    # Whether the role was warned that the current SLA is about to run out.
    warned: bool = False
    # Immutable user ids beside the usernames (four eyes and claims compare these), where the
    # decision came from ("portal" or "operator"), and the portal's id of the deciding action.
    submitted_by_id: str = ""
    decided_by_id: str = ""
    assignee_id: str = ""
    decided_via: str = ""
    decision_id: str = ""
    # The policy's claim_required, carried so the Update validator reaches it (False in runs
    # recorded before it existed).
    claim_required: bool = False


@dataclass
class Notice:
    """Tell a gate's reviewers something: "opened" (high priority), "sla_warning", or
    "escalated" (the gate's new role, as soon as the SLA moved it)."""

    kind: str
    gate: GateSnapshot


@dataclass
class AgentState:
    """What a run hands to its continuation when it continues-as-new."""

    messages: list[ChatMessage]
    results: list[ToolResult] = field(default_factory=list)
    gates: list[GateSnapshot] = field(default_factory=list)
    # The tool calls of the turn in progress, and the results it already has.
    pending: list[ToolCall] = field(default_factory=list)
    turn_results: list[ToolResult] = field(default_factory=list)
    turn: int = 0
    gate_seq: int = 0
    model: str = ""
    offline: bool = False
    previous_runs: list[str] = field(default_factory=list)
    # The references of the chain's oldest results, sealed beside history in chunks (in order,
    # before `results`).
    sealed_results: list[str] = field(default_factory=list)
    # The portal's ids of the reviewer actions applied lately (the last APPLIED_ACTIONS_KEPT): a
    # redelivery is applied once, also after continue-as-new. An action is redelivered only
    # within minutes of being sent, so the recent ones are all that is needed.
    applied: list[str] = field(default_factory=list)
    # The instructions of a change request are in `messages` already (the agent is revising).
    revising: bool = False
    # The version of each gate the projection has been sent, so a change made while the run was
    # continuing as new is still published (None in runs continued before this was carried).
    published: dict[str, int] | None = None
    # The model's tool calls numbered so far in the chain (agents/framework/call_ids.py).
    call_seq: int = 0


@dataclass
class VerifyingKey:
    """A portal public key a run trusts: Ed25519, base64 of the raw 32 bytes."""

    key_id: str
    public_key: str


@dataclass
class AgentInput:
    spec: AgentRunSpec
    subject: str
    case: dict[str, Any]
    submitted_by: str
    carry: AgentState | None = None
    # The submitter's immutable user id (four eyes), and the portal keys this run trusts to sign
    # reviewer actions; both in history, and carried across continue-as-new with the input.
    submitted_by_id: str = ""
    trusted_keys: list[VerifyingKey] = field(default_factory=list)


@dataclass
class AgentOutcome:
    """What `on_complete` receives: the answer and every gate with its human decision."""

    workflow_id: str
    subject: str
    case: dict[str, Any]
    submitted_by: str
    answer: Recommendation
    gates: list[GateSnapshot]
    results: list[ToolResult]


@dataclass
class AgentResult:
    gate: GateSnapshot | None
    outcome: str
    action: dict[str, Any]
    gates: list[GateSnapshot] = field(default_factory=list)

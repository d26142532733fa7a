"""Dataclasses that cross the Workflow boundary: inputs, outputs, Update arguments.

Everything here is plain data so it serialises into Workflow history as JSON. No Django, no openai.
Fields added later always have defaults, so histories recorded before them still replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

LOAN_OUTCOMES = ["approve", "decline", "refer"]
# The pseudo-role of superusers: held gates wait for them, and they may reassign any gate.
ADMIN_ROLE = "admin"


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
    # After the last SLA: the gate is rejected with this reason ("reject"), or held for an
    # admin ("hold") with no further deadline. Never auto-approved.
    expiry_reason: str = "No decision within the SLA after escalation."
    final_outcome: str = "reject"
    # Roles that may reassign a gate someone else has claimed (e.g. on absence).
    supervisors: list[str] = field(default_factory=lambda: [ADMIN_ROLE])
    # Reviewers may approve or reject several low-risk gates of this kind at once.
    bulk: bool = False
    # "high" gates notify their role when they open.
    priority: str = "normal"
    # Reviewers are warned when this fraction of the SLA is left (0 turns warnings off).
    warn_at: float = 0.25
    # Only the reviewer holding the gate may decide it: claim first, so two reviewers never
    # work the same case and a decision always has a named owner (on for loan gates).
    claim_required: bool = False


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class ApprovalRule:
    """A tool call that needs a human first.

    Always, by default. With `when` and `skip_values`, it fails closed: the call skips approval
    only when argument `when` is exactly one of `skip_values`, so a misspelt or unexpected value
    the model writes still opens a gate. (`values`, the older form, gates only the listed values.)
    The rule is data in the pinned spec, so what needs approval is decided in code, never by the
    model. `editable` names the arguments a reviewer may change before approving; `subject_field`
    names the argument that titles the gate.
    """

    tool: str
    when: str = ""
    values: list[str] = field(default_factory=list)
    editable: list[str] = field(default_factory=list)
    subject_field: str = ""
    skip_values: list[str] = field(default_factory=list)

    def applies(self, call: ToolCall) -> bool:
        if call.name != self.tool:
            return False
        if not self.when:
            return True
        value = str(call.arguments.get(self.when))
        if self.skip_values:
            return value not in self.skip_values
        return value in self.values


@dataclass
class AgentRunSpec:
    """The spec snapshot a run pins when it starts, so config changes reach new runs only."""

    agent: str
    prompt: PromptRef
    model: str
    tools: list[str]
    # The final gate on the agent's answer; None for agents that act without one.
    gate: GatePolicy | None
    on_approve: str
    on_reject: str
    max_turns: int = 6
    outcomes: list[str] = field(default_factory=lambda: list(LOAN_OUTCOMES))
    # Answer fields (in Recommendation.proposal) a reviewer may edit before approving.
    editable: list[str] = field(default_factory=list)
    approvals: list[ApprovalRule] = field(default_factory=list)
    approval_gate: GatePolicy | None = None
    # Without a final gate: the activity that acts on the answer (e.g. publish a report).
    on_complete: str = ""
    # History pruning: continue-as-new after this many model turns in one run, or once the run's
    # history has this many events (0: only when Temporal suggests it).
    turns_per_run: int = 0
    max_history_events: int = 0
    # The summarise prompt pinned with the agent's, so a new version reaches new runs only.
    summary_prompt: PromptRef | None = None
    # The activity that prepares the case before the first turn (e.g. reads an uploaded file);
    # its PreparedCase replaces the case. Empty: the case is ready as it is.
    prepare: str = ""
    # The tools whose results continue-as-new carries (what `on_complete` needs, e.g. a review's
    # findings); the others' results stay in the run that got them. None: every result.
    carried_results: list[str] | None = None
    # At most this many of them are carried in history; more, and all but the latest half are
    # sealed beside it, carried by reference (agents/framework/result_store.py).
    carried_results_max: int = 40
    # The tools declared `local=True` (agents.framework.tools): they run as local activities.
    local_tools: list[str] = field(default_factory=list)


@dataclass
class PreparedCase:
    """What a `prepare` activity returns: the case the agent plans from."""

    case: dict[str, Any]
    # Turns the prepared case needs (e.g. per section of a document): the run's budget becomes
    # the larger of this and the spec's.
    max_turns: int = 0


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

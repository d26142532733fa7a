"""What a run pins when it starts: its spec (prompt, model, tools, gates and their policies, the
rules that put a tool call before a human), so config changes reach new runs only.

Plain data that crosses the Workflow boundary (agents/framework/types.py re-exports it with the
rest). Fields added later always have defaults, so histories recorded before them still replay.
Evaluated annotations, not strings: see agents/framework/types.py.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.framework.types import ToolCall


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

    def applies(self, call: "ToolCall") -> bool:
        if call.name != self.tool:
            return False
        if not self.when:
            return True
        value = str(call.arguments.get(self.when))
        if self.skip_values:
            return value not in self.skip_values
        return value in self.values


@dataclass
class OpeningCall:
    """A tool call the run makes before the model's first turn, so the model starts from its
    result: `arguments` maps each of the tool's arguments to the case field it is read from. A
    case without one of those fields leaves the call to the model. Data in the pinned spec, like
    ApprovalRule: what a run fetches first is decided in code, never by the model.

    `results` maps arguments to fields of earlier opening calls' results instead, as
    "<tool>.<field>" (the loan policy check reads the bureau's score): such a call is made in a
    second turn of the framework's, once those results are in, and left to the model if one of
    them failed or lacks the field."""

    tool: str
    arguments: dict[str, str] = field(default_factory=dict)
    results: dict[str, str] = field(default_factory=dict)


# The least `carried_results_max` a spec may pin: below it, a chunk sealed at every continuation
# would grow the carry's references instead (AgentSpec.pin refuses it; a run never seals then).
MIN_CARRIED_RESULTS = 2


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
    # Tool calls made before the model's first turn (OpeningCall), in the first run of a chain.
    opening_calls: list[OpeningCall] = field(default_factory=list)
    # Those that read earlier opening calls' results (`OpeningCall.results`), made in a second
    # turn. A field of their own: a worker from before them drops it and leaves them to the model.
    opening_calls_after: list[OpeningCall] = field(default_factory=list)


@dataclass
class PreparedCase:
    """What a `prepare` activity returns: the case the agent plans from."""

    case: dict[str, Any]
    # Turns the prepared case needs (e.g. per section of a document): the run's budget becomes
    # the larger of this and the spec's.
    max_turns: int = 0

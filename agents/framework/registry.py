"""Agent specs: what a team registers so the shared Workflow can run its agent."""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from agents.framework.ai_act import UNDECLARED, AiActClass
from agents.framework.demo import DemoCase
from agents.framework.intake import Intake
from agents.framework.presentation import AfterReview, CaseField, Flags, PassageOf, Shown, Workspace
from agents.framework.prompts import SUMMARISE_PROMPT, latest_prompt
from agents.framework.roles import ReviewerRole
from agents.framework.run_spec import MIN_CARRIED_RESULTS
from agents.framework.tools import TOOLS
from agents.framework.types import (
    LOAN_OUTCOMES,
    AgentRunSpec,
    ApprovalRule,
    EscalationStep,
    GatePolicy,
    OpeningCall,
)

# The offline model's behaviour for one agent: OpenAI-style messages in, an assistant message out
# ({"content": ...} or {"tool_calls": [{"name": ..., "arguments": {...}}]}).
OfflinePolicy = Callable[[list[dict[str, Any]]], dict[str, Any]]


@dataclass(frozen=True)
class AgentSpec:
    """What a team registers: its prompt, tools, gates and actions. The framework does the rest.

    `tools` are the team's `@tool` functions (or, as older packages do, their names with the
    functions listed in `activities`): each is registered once, by its decorator, and the spec
    keeps the names and adds the functions to the worker's activities.

    `gate` is the final human gate on the agent's answer (approve runs `on_approve`, reject runs
    `on_reject`); without one, `on_complete` acts on the answer. `prepare` names an activity run
    before the first turn that turns the submitted case into the one the agent plans from.
    `opening_calls` are tool calls made before the model's first turn, their arguments read from
    the case (or from an earlier opening call's result: `OpeningCall.results`), so the model
    starts from their results (a model turn fewer for each turn of calls). `approvals` name
    tool calls that need a human before they run, decided under `approval_gate`.
    """

    name: str
    title: str
    prompt_id: str
    model: str
    tools: Sequence[str | Callable[..., Any]]
    gate: GatePolicy | None
    activities: Sequence[Callable[..., Any]]
    offline_policy: OfflinePolicy
    on_approve: str = ""
    on_reject: str = ""
    on_complete: str = ""
    prepare: str = ""
    max_turns: int = 6
    outcomes: Sequence[str] = tuple(LOAN_OUTCOMES)
    editable: Sequence[str] = ()
    approvals: Sequence[ApprovalRule] = ()
    opening_calls: Sequence[OpeningCall] = ()
    approval_gate: GatePolicy | None = None
    turns_per_run: int = 0
    max_history_events: int = 0
    # The team's EU AI Act classification, shown on each decision's record (not run input).
    ai_act: AiActClass = UNDECLARED
    # The reviewer roles its gates name; the portal creates their groups and shows their labels.
    roles: Sequence[ReviewerRole] = ()
    # The grounds a reviewer picks from when rejecting, per gate kind (the portal adds "Other").
    rejection_grounds: Mapping[str, Sequence[str]] = field(default_factory=dict)
    # How a person's decision on each AI outcome counts for AI/human agreement: "approve" (a person
    # who approves agrees), "reject" (a person who rejects agrees); outcomes not named (refer, a
    # tool call) carry no verdict. Empty: approve/advise are approvals, decline/no_action rejections.
    verdicts: Mapping[str, str] = field(default_factory=dict)
    # Cases `make dev` starts a run of (agents with an intake page of their own seed through it).
    demo_cases: Callable[[], Sequence[DemoCase]] | None = None
    # The agent's intake page, if people start its runs from the portal (agents.framework.intake).
    intake: Intake | None = None
    # How its data reads (agents.framework.presentation): case fields, evidence labels and
    # formats by result key, and the flags it raises for reviewers.
    case_fields: Sequence[CaseField] = ()
    evidence: Mapping[str, Shown] = field(default_factory=dict)
    flags: Flags | None = None
    # What its tools do, in words, by tool name ("Record finding"): a tool-call gate's
    # recommendation and its evidence headings. Undeclared tools read from their names.
    tool_labels: Mapping[str, str] = field(default_factory=dict)
    # The document passage a gate is about, for the reviewer to read with the quote highlighted.
    passage: PassageOf | None = None
    # What an approved proposal reads as after the reviewer's edits (the gate page, the delivery).
    after_review: AfterReview | None = None
    # Gate kinds reviewers act on elsewhere than the gate page's decision panel, by gate kind.
    workspaces: Mapping[str, Workspace] = field(default_factory=dict)
    # Workflow classes of its own the worker also serves (e.g. a conversation), beside AgentWorkflow.
    workflows: Sequence[type] = ()

    def __post_init__(self) -> None:
        functions = [t for t in self.tools if not isinstance(t, str)]
        object.__setattr__(self, "tools", tuple(_tool_name(t) for t in self.tools))
        object.__setattr__(
            self, "activities", (*functions, *(a for a in self.activities if a not in functions))
        )

    def pin(
        self,
        *,
        model: str | None = None,
        sla_seconds: int | None = None,
        escalation_sla_seconds: int | None = None,
        **overrides: Any,
    ) -> AgentRunSpec:
        """The snapshot a new run starts with: latest prompt version, the deployment's SLAs.

        SLA overrides apply to every gate policy of the agent; `overrides` set other fields of
        the run spec (tests use them for short loops).
        """
        spec_tools = [_tool_name(t) for t in self.tools]  # names by now (__post_init__)
        spec = AgentRunSpec(
            agent=self.name,
            prompt=latest_prompt(self.prompt_id).ref,
            model=model or self.model,
            tools=spec_tools,
            gate=_with_slas(self.gate, sla_seconds, escalation_sla_seconds),
            on_approve=self.on_approve,
            on_reject=self.on_reject,
            max_turns=self.max_turns,
            outcomes=list(self.outcomes),
            editable=list(self.editable),
            approvals=[replace(rule) for rule in self.approvals],
            approval_gate=_with_slas(self.approval_gate, sla_seconds, escalation_sla_seconds),
            on_complete=self.on_complete,
            turns_per_run=self.turns_per_run,
            max_history_events=self.max_history_events,
            summary_prompt=latest_prompt(SUMMARISE_PROMPT).ref,
            prepare=self.prepare,
            local_tools=[name for name in spec_tools if name in TOOLS and TOOLS[name].local],
            opening_calls=[_copy(call) for call in self.opening_calls if not call.results],
            opening_calls_after=[_copy(call) for call in self.opening_calls if call.results],
        )
        pinned = replace(spec, **overrides)
        if pinned.carried_results_max < MIN_CARRIED_RESULTS:
            raise ValueError(f"carried_results_max is at least {MIN_CARRIED_RESULTS}.")
        _check_opening_calls(pinned)
        return pinned


MAX_OPENING_CALLS = 99  # their ids number them in two digits (opening_calls.py)


def _check_opening_calls(spec: AgentRunSpec) -> None:
    """Each call as `_check_opening_call` asks; a call that reads results goes in the second turn,
    and reads fields of results of the first, each made once (with two, which would it read?)."""
    calls = [*spec.opening_calls, *spec.opening_calls_after]
    if len(calls) > MAX_OPENING_CALLS:
        raise ValueError(f"At most {MAX_OPENING_CALLS} opening calls.")
    for call in calls:
        _check_opening_call(call, spec)
    if any(call.results for call in spec.opening_calls):
        raise ValueError("An opening call that reads results goes after the others (opening_calls_after).")
    once = [tool for tool, n in Counter(c.tool for c in spec.opening_calls).items() if n == 1]
    for call in spec.opening_calls_after:
        if not call.results:
            raise ValueError(f"The opening call of {call.tool} reads no result: it goes with the others.")
        for reference in call.results.values():
            tool, _, name = reference.rpartition(".")
            if tool not in once or not name:
                raise ValueError(
                    f"The opening call of {call.tool} reads {reference!r}: name a field of the result "
                    "of an opening call that reads only the case and is made once, as '<tool>.<field>'."
                )


def _copy(call: OpeningCall) -> OpeningCall:
    return replace(call, arguments=dict(call.arguments), results=dict(call.results))


def _check_opening_call(call: OpeningCall, spec: AgentRunSpec) -> None:
    """Refuse an opening call that could never run as meant: a tool the agent does not have, one
    a reviewer must approve first (its gate would be credited to a model that has not run), or
    arguments other than the tool's own (it would fail on every case)."""
    if call.tool not in spec.tools:
        raise ValueError(f"An opening call names a tool the agent does not have: {call.tool}.")
    if any(rule.tool == call.tool for rule in spec.approvals):
        raise ValueError(f"An opening call names a tool that needs approval first: {call.tool}.")
    mapped = [*call.arguments, *call.results]
    if call.tool in TOOLS:
        wanted = {f.name for f in fields(TOOLS[call.tool].args_type)}
        if set(mapped) != wanted or len(mapped) != len(wanted):
            raise ValueError(
                f"The opening call of {call.tool} must map exactly its arguments, each once "
                f"({', '.join(sorted(wanted))}), not {', '.join(sorted(mapped)) or 'none'}."
            )


def _tool_name(tool: str | Callable[..., Any]) -> str:
    if isinstance(tool, str):
        return tool
    for registered in TOOLS.values():
        if registered.activity is tool:
            return registered.name
    raise ValueError(
        f"{getattr(tool, '__name__', tool)!r} is not a tool: decorate it with @tool(name, description)."
    )


def _with_slas(
    policy: GatePolicy | None, sla_seconds: int | None, escalation_sla_seconds: int | None
) -> GatePolicy | None:
    if policy is None:
        return None
    escalations = [
        EscalationStep(step.role, escalation_sla_seconds or step.sla_seconds) for step in policy.escalations
    ]
    return replace(policy, sla_seconds=sla_seconds or policy.sla_seconds, escalations=escalations)


AGENTS: dict[str, AgentSpec] = {}


def register(spec: AgentSpec) -> AgentSpec:
    AGENTS[spec.name] = spec
    return spec


def load_agent_packages(packages: Sequence[str]) -> dict[str, AgentSpec]:
    """Import each team package; importing it registers its spec, prompts and tools."""
    for package in packages:
        importlib.import_module(package)
    return AGENTS

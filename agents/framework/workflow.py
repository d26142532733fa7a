"""The one agent Workflow every team runs: plan with the model and tools, gate, act.

1. The model is called (an Activity) until it returns an answer; the tool calls it asks for in a
   turn run concurrently, each an Activity. A call an ApprovalRule matches opens a gate first and
   runs only once a reviewer approves it (with their edits), else the model hears the rejection.
2. With a final gate, the answer waits for a human decision; on SLA expiry the gate escalates or
   is rejected, never approved. Reviewers answer through the `decide` and `annotate` Updates.
3. Only after the decision does the downstream action run (`on_approve` / `on_reject`), or, for
   agents without a final gate, `on_complete` with every gate and its decision.
4. Long loops prune history: the old turns are summarised and the run continues-as-new, carrying
   open gates, pending tool calls and the chain of previous runs.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from agents.framework import gates
    from agents.framework.types import (
        AgentInput,
        AgentOutcome,
        AgentResult,
        AgentRunSpec,
        AgentState,
        AnnotateInput,
        ApprovalRule,
        AssignInput,
        ChatMessage,
        DecideInput,
        DecideResult,
        GatePolicy,
        GateSnapshot,
        LlmRequest,
        LlmResponse,
        Notice,
        Recommendation,
        SummariseRequest,
        SummariseResponse,
        ToolCall,
        ToolResult,
    )

LLM_ACTIVITY = "llm_complete"
SUMMARISE_ACTIVITY = "llm_summarise"
PUBLISH_ACTIVITY = "publish_gate"
NOTIFY_ACTIVITY = "notify_reviewers"
PATCH_PUBLISH_LATE_DECISION = "publish-late-decision"
PATCH_REVIEWER_NOTICES = "reviewer-notices"

# The model: a few attempts with backoff; a 429's Retry-After overrides the interval per attempt.
LLM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=5,
)
LLM_START_TO_CLOSE = timedelta(seconds=90)
# The LLM activities heartbeat while waiting on the provider: a dead worker is noticed this fast.
LLM_HEARTBEAT = timedelta(seconds=15)
LLM_SCHEDULE_TO_CLOSE = timedelta(minutes=10)

# Tools: retried a few times; a tool that keeps failing becomes an error result the model sees.
TOOL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=20),
    maximum_attempts=3,
)
TOOL_START_TO_CLOSE = timedelta(seconds=30)
TOOL_HEARTBEAT = timedelta(seconds=10)

# The projection must catch up eventually, so publishing retries without an attempt limit.
PUBLISH_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
PUBLISH_START_TO_CLOSE = timedelta(seconds=15)

# Notices are helpful, not essential: a few tries, then the run goes on without.
NOTIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=4)
NOTIFY_START_TO_CLOSE = timedelta(seconds=30)

# A decided action (issue the offer, send the notice) must happen: retry for up to a day.
ACTION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5))
ACTION_START_TO_CLOSE = timedelta(minutes=2)
ACTION_SCHEDULE_TO_CLOSE = timedelta(days=1)


@workflow.defn
class AgentWorkflow:
    def __init__(self) -> None:
        self._gates: dict[str, GateSnapshot] = {}
        self._published: dict[str, int] = {}
        self._state = AgentState(messages=[])
        self._input: AgentInput | None = None
        self._runs_turns = 0

    @workflow.run
    async def run(self, input: AgentInput) -> AgentResult:
        self._input = input
        spec = input.spec
        if input.carry is not None:
            self._state = input.carry
            self._gates = {g.gate_id: g for g in input.carry.gates}
            self._published = {g.gate_id: g.version for g in input.carry.gates}
        else:
            self._state.messages = [ChatMessage(role="user", content=json.dumps(input.case, sort_keys=True))]
        answer, attention = await self._plan()

        if spec.gate is None:
            outcome = AgentOutcome(
                workflow_id=workflow.info().workflow_id,
                subject=input.subject,
                case=input.case,
                submitted_by=input.submitted_by,
                answer=answer,
                gates=list(self._gates.values()),
                results=self._state.results,
            )
            action = await self._act(spec.on_complete, outcome) if spec.on_complete else {}
            await workflow.wait_condition(workflow.all_handlers_finished)
            return AgentResult(
                gate=None, outcome="completed", action=action, gates=list(self._gates.values())
            )

        gate = self._open_gate(spec.gate, answer, spec.editable, input.subject, attention=attention)
        await self._publish(gate.gate_id)
        await self._announce([gate.gate_id])
        await self._await_gates([gate.gate_id])
        while self._gates[gate.gate_id].status == "changes_requested":
            await self._revise(gate.gate_id)
        gate = self._gates[gate.gate_id]
        action = await self._act(spec.on_approve if gate.status == "approved" else spec.on_reject, gate)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return AgentResult(gate=gate, outcome=gate.status, action=action, gates=list(self._gates.values()))

    @workflow.update
    def decide(self, update: DecideInput) -> DecideResult:
        """A reviewer's approve or reject; the validator below has already refused bad ones."""
        gate = gates.apply_decision(self._gates[update.gate_id], update, workflow.now())
        self._gates[gate.gate_id] = gate
        return DecideResult(gate=gate)

    @decide.validator
    def validate_decide(self, update: DecideInput) -> None:
        refusal = gates.decision_refusal(self._gates.get(update.gate_id), update, workflow.now())
        if refusal:
            raise ApplicationError(refusal, type="DecisionRefused", non_retryable=True)

    @workflow.update
    def annotate(self, note: AnnotateInput) -> DecideResult:
        """A reviewer's comment on a gate, kept in history and shown beside the decision."""
        gate = gates.annotate(self._gates[note.gate_id], note, workflow.now())
        self._gates[gate.gate_id] = gate
        return DecideResult(gate=gate)

    @annotate.validator
    def validate_annotate(self, note: AnnotateInput) -> None:
        refusal = gates.annotation_refusal(self._gates.get(note.gate_id), note)
        if refusal:
            raise ApplicationError(refusal, type="AnnotationRefused", non_retryable=True)

    @workflow.update
    def assign(self, change: AssignInput) -> DecideResult:
        """Claim, unclaim or (re)assign a gate; in history, so the audit trail shows who held it."""
        gate = gates.apply_assignment(self._gates[change.gate_id], change)
        self._gates[gate.gate_id] = gate
        return DecideResult(gate=gate)

    @assign.validator
    def validate_assign(self, change: AssignInput) -> None:
        refusal = gates.assignment_refusal(self._gates.get(change.gate_id), change)
        if refusal:
            raise ApplicationError(refusal, type="AssignmentRefused", non_retryable=True)

    @workflow.query
    def gate(self) -> GateSnapshot | None:
        """The most recently opened gate, for the portal's reconcile and for debugging."""
        return next(reversed(self._gates.values()), None)

    @workflow.query
    def all_gates(self) -> list[GateSnapshot]:
        return list(self._gates.values())

    # --- planning: the model/tool loop ----------------------------------------------------------

    async def _plan(self) -> tuple[Recommendation, str]:
        """Run the model/tool loop until the model answers; failures become a 'refer'."""
        assert self._input is not None
        spec, state = self._input.spec, self._state
        while True:
            if state.pending:
                await self._resolve_turn()
            if state.turn >= spec.max_turns:
                reason = f"The model gave no answer within {spec.max_turns} turns."
                return _referral(reason), reason
            if self._should_continue_as_new(turn_boundary=True):
                await self._continue_as_new()
            request = LlmRequest(
                spec.agent, spec.prompt, spec.model, state.messages, spec.tools, spec.outcomes
            )
            try:
                response = await workflow.execute_activity(
                    LLM_ACTIVITY,
                    request,
                    result_type=LlmResponse,
                    start_to_close_timeout=LLM_START_TO_CLOSE,
                    schedule_to_close_timeout=LLM_SCHEDULE_TO_CLOSE,
                    heartbeat_timeout=LLM_HEARTBEAT,
                    retry_policy=LLM_RETRY,
                )
            except ActivityError as err:
                reason = f"The model could not be used: {_failure_message(err)}"
                return _referral(reason), reason
            state.turn += 1
            self._runs_turns += 1
            state.model, state.offline = response.model, response.offline
            state.messages.append(response.message)
            if response.recommendation is not None:
                return response.recommendation, ""
            state.pending = list(response.message.tool_calls)

    async def _revise(self, gate_id: str) -> None:
        """A reviewer sent the answer back: the agent re-plans with their instructions, and the
        same gate reopens with the new recommendation (the old one kept as a revision)."""
        gate = self._gates[gate_id]
        request = f"Reviewer {gate.decided_by} requested changes: {gate.reason}\nRevise your answer."
        self._state.messages.append(ChatMessage(role="user", content=request))
        answer, attention = await self._plan()
        reopened = gates.reopen(gate, answer, workflow.now())
        self._gates[gate_id] = replace(reopened, needs_attention=attention)
        await self._publish(gate_id)
        await self._await_gates([gate_id])

    async def _resolve_turn(self) -> None:
        """Run one turn's tool calls: approvals gate first, everything else concurrently."""
        assert self._input is not None
        spec, state = self._input.spec, self._state
        done = {r.call_id for r in state.turn_results}
        gated = {c.id: rule for c in state.pending if (rule := _approval_rule(spec, c)) is not None}
        opened = {g.tool_call.id: g.gate_id for g in self._gates.values() if g.tool_call is not None}
        new_gates = [
            self._open_tool_gate(call, gated[call.id])
            for call in state.pending
            if call.id in gated and call.id not in opened
        ]
        opened.update({g.tool_call.id: g.gate_id for g in new_gates if g.tool_call is not None})
        plain = [c for c in state.pending if c.id not in gated and c.id not in done]
        results = await asyncio.gather(
            *(self._call_tool(call) for call in plain),
            *(self._publish(g.gate_id) for g in new_gates),
        )
        state.turn_results.extend(r for r in results if isinstance(r, ToolResult))
        await self._announce([g.gate_id for g in new_gates])
        waiting = [opened[c.id] for c in state.pending if c.id in gated and c.id not in done]
        await self._await_gates(waiting)
        state.turn_results.extend(
            await asyncio.gather(*(self._after_review(self._gates[gate_id]) for gate_id in waiting))
        )
        by_call = {r.call_id: r for r in state.turn_results}
        ordered = [by_call[c.id] for c in state.pending]
        state.results.extend(ordered)
        state.messages.extend(
            ChatMessage(role="tool", content=_tool_content(r), tool_call_id=r.call_id) for r in ordered
        )
        state.pending, state.turn_results = [], []

    async def _call_tool(self, call: ToolCall) -> ToolResult:
        assert self._input is not None
        if call.name not in self._input.spec.tools:
            return ToolResult(call.id, call.name, ok=False, error=f"Unknown tool '{call.name}'.")
        try:
            result = await workflow.execute_activity(
                call.name,
                call.arguments,
                result_type=dict,
                start_to_close_timeout=TOOL_START_TO_CLOSE,
                heartbeat_timeout=TOOL_HEARTBEAT,
                retry_policy=TOOL_RETRY,
            )
        except ActivityError as err:
            return ToolResult(call.id, call.name, ok=False, error=_failure_message(err))
        return ToolResult(call.id, call.name, ok=True, result=result)

    async def _after_review(self, gate: GateSnapshot) -> ToolResult:
        """Run an approved tool call with the reviewer's edits; tell the model about a rejection."""
        assert gate.tool_call is not None
        call = gate.tool_call
        if gate.status != "approved":
            verb = "asked for changes to" if gate.status == "changes_requested" else "rejected"
            error = f"A reviewer {verb} this call ({gate.decided_by}): {gate.reason}"
            return ToolResult(call.id, call.name, ok=False, error=error)
        return await self._call_tool(replace(call, arguments=gates.proposal_after_review(gate)))

    # --- gates ------------------------------------------------------------------------------------

    def _open_gate(
        self,
        policy: GatePolicy,
        recommendation: Recommendation,
        editable: list[str],
        subject: str,
        *,
        attention: str = "",
        tool_call: ToolCall | None = None,
    ) -> GateSnapshot:
        assert self._input is not None
        state, now = self._state, workflow.now()
        state.gate_seq += 1
        info = workflow.info()
        gate = GateSnapshot(
            gate_id=f"{info.workflow_id}--g{state.gate_seq}",
            workflow_id=info.workflow_id,
            agent=self._input.spec.agent,
            kind=policy.kind,
            subject=subject,
            case=self._input.case,
            submitted_by=self._input.submitted_by,
            recommendation=recommendation,
            tool_results=list(state.results) if tool_call is None else [],
            model=state.model or self._input.spec.model,
            offline_model=state.offline,
            role=policy.role,
            sla_seconds=policy.sla_seconds,
            opened_at=now,
            deadline=now + timedelta(seconds=policy.sla_seconds),
            needs_attention=attention,
            prompt=self._input.spec.prompt,
            editable=list(editable),
            tool_call=tool_call,
            supervisors=list(policy.supervisors),
            bulk_allowed=policy.bulk,
            priority=policy.priority,
        )
        self._gates[gate.gate_id] = gate
        return gate

    def _open_tool_gate(self, call: ToolCall, rule: ApprovalRule) -> GateSnapshot:
        assert self._input is not None and self._input.spec.approval_gate is not None
        args = call.arguments
        title = str(args.get(rule.subject_field, call.name)) if rule.subject_field else call.name
        recommendation = Recommendation(
            outcome=call.name,
            rationale=str(args.get("rationale", "")),
            risk_factors=[f"{rule.when}: {args.get(rule.when)}"] if rule.when else [],
            proposal=dict(args),
        )
        return self._open_gate(
            self._input.spec.approval_gate,
            recommendation,
            rule.editable,
            f"{self._input.subject}: {title}",
            tool_call=call,
        )

    async def _await_gates(self, gate_ids: list[str]) -> None:
        """Wait on a durable timer for the gates' decisions; on SLA expiry apply each policy;
        publish every change; continue-as-new if history grows too long while waiting."""

        def decided() -> bool:
            return all(self._gates[g].status != "pending" for g in gate_ids)

        warnings = False if decided() else workflow.patched(PATCH_REVIEWER_NOTICES)
        while not decided():
            if self._should_continue_as_new(turn_boundary=False):
                await self._continue_as_new()
            pending = [self._gates[g] for g in gate_ids if self._gates[g].status == "pending"]
            wake_ups = [g.deadline for g in pending]
            if warnings:
                wake_ups += [t for g in pending if (t := gates.warning_time(g, self._policy_of(g)))]
            nearest = min(wake_ups)
            try:
                await workflow.wait_condition(
                    lambda: decided() or self._unpublished(gate_ids) or self._history_too_long(),
                    timeout=max((nearest - workflow.now()).total_seconds(), 0.001),
                )
            except TimeoutError:
                # The timer for the nearest deadline fired: those gates expire (escalate or close).
                now = workflow.now()
                warned = []
                for gate_id in gate_ids:
                    gate = self._gates[gate_id]
                    warn_at = gates.warning_time(gate, self._policy_of(gate)) if warnings else None
                    if gate.status == "pending" and gate.deadline <= nearest:
                        self._gates[gate_id] = gates.expire(gate, self._policy_of(gate), now)
                    elif warn_at is not None and warn_at <= nearest:
                        self._gates[gate_id] = replace(gate, warned=True, version=gate.version + 1)
                        warned.append(gate_id)
                await self._notify("sla_warning", warned)
            await self._publish_changes(gate_ids)
        # A decision that arrived while the opening publish was in flight skipped the loop; the
        # projection must still learn it. Patched: runs recorded before this fix took no such step.
        if self._unpublished(gate_ids) and workflow.patched(PATCH_PUBLISH_LATE_DECISION):
            await self._publish_changes(gate_ids)

    async def _notify(self, kind: str, gate_ids: list[str]) -> None:
        """Tell the gates' reviewers (e-mail, by the portal's activity); never blocks a run."""
        for gate_id in gate_ids:
            try:
                await workflow.execute_activity(
                    NOTIFY_ACTIVITY,
                    Notice(kind, self._gates[gate_id]),
                    start_to_close_timeout=NOTIFY_START_TO_CLOSE,
                    retry_policy=NOTIFY_RETRY,
                )
            except ActivityError as err:
                workflow.logger.warning("could not notify reviewers of %s: %s", gate_id, err)

    async def _announce(self, gate_ids: list[str]) -> None:
        """Notify the role of each new high-priority gate."""
        urgent = [g for g in gate_ids if self._gates[g].priority == "high"]
        if urgent and workflow.patched(PATCH_REVIEWER_NOTICES):
            await self._notify("opened", urgent)

    def _policy_of(self, gate: GateSnapshot) -> GatePolicy:
        assert self._input is not None
        spec = self._input.spec
        policy = spec.approval_gate if gate.tool_call is not None else spec.gate
        assert policy is not None
        return policy

    def _unpublished(self, gate_ids: list[str]) -> bool:
        return any(self._gates[g].version != self._published.get(g) for g in gate_ids)

    async def _publish_changes(self, gate_ids: list[str]) -> None:
        changed = [g for g in gate_ids if self._gates[g].version != self._published.get(g)]
        await asyncio.gather(*(self._publish(g) for g in changed))

    async def _publish(self, gate_id: str) -> None:
        snapshot = self._gates[gate_id]
        await workflow.execute_activity(
            PUBLISH_ACTIVITY,
            snapshot,
            start_to_close_timeout=PUBLISH_START_TO_CLOSE,
            retry_policy=PUBLISH_RETRY,
        )
        self._published[gate_id] = max(snapshot.version, self._published.get(gate_id, 0))

    async def _act(self, activity_name: str, argument: object) -> dict:
        return await workflow.execute_activity(
            activity_name,
            argument,
            result_type=dict,
            start_to_close_timeout=ACTION_START_TO_CLOSE,
            schedule_to_close_timeout=ACTION_SCHEDULE_TO_CLOSE,
            retry_policy=ACTION_RETRY,
        )

    # --- history pruning --------------------------------------------------------------------------

    def _history_too_long(self) -> bool:
        assert self._input is not None
        limit = self._input.spec.max_history_events
        info = workflow.info()
        return info.is_continue_as_new_suggested() or (
            limit > 0 and info.get_current_history_length() >= limit
        )

    def _should_continue_as_new(self, *, turn_boundary: bool) -> bool:
        assert self._input is not None
        per_run = self._input.spec.turns_per_run
        by_turns = turn_boundary and per_run > 0 and self._runs_turns >= per_run
        return by_turns or self._history_too_long()

    async def _continue_as_new(self) -> None:
        """Summarise the old turns, let handlers finish, and continue in a fresh run."""
        assert self._input is not None
        spec, state = self._input.spec, self._state
        keep_tail = 1 if state.pending else 0  # the assistant message whose tool calls are pending
        old = state.messages[1 : len(state.messages) - keep_tail]
        if old:
            summary = await workflow.execute_activity(
                SUMMARISE_ACTIVITY,
                SummariseRequest(spec.agent, spec.model, old, spec.summary_prompt),
                result_type=SummariseResponse,
                start_to_close_timeout=LLM_START_TO_CLOSE,
                schedule_to_close_timeout=LLM_SCHEDULE_TO_CLOSE,
                heartbeat_timeout=LLM_HEARTBEAT,
                retry_policy=LLM_RETRY,
            )
            note = ChatMessage(role="user", content=f"Summary of the earlier turns:\n{summary.summary}")
            state.messages = [state.messages[0], note, *state.messages[len(state.messages) - keep_tail :]]
        await workflow.wait_condition(workflow.all_handlers_finished)
        state.gates = list(self._gates.values())
        state.previous_runs = [*state.previous_runs, workflow.info().run_id]
        workflow.continue_as_new(replace(self._input, carry=state))


def _approval_rule(spec: AgentRunSpec, call: ToolCall) -> ApprovalRule | None:
    return next((rule for rule in spec.approvals if rule.applies(call)), None)


def _referral(reason: str) -> Recommendation:
    return Recommendation(outcome="refer", rationale=reason, risk_factors=["needs attention"])


def _tool_content(result: ToolResult) -> str:
    body = result.result if result.ok else {"error": result.error}
    return json.dumps(body, sort_keys=True)


def _failure_message(err: ActivityError) -> str:
    cause = err.cause
    while cause is not None and cause.cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.cause
    return str(cause.message if cause is not None else err)

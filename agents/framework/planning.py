"""The model/tool loop of the agent workflow: call the model until it answers, running the tool
calls of each turn concurrently; calls an ApprovalRule matches wait for a reviewer first."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

from agents.framework.contract import LLM_ACTIVITY
from agents.framework.gate_flow import GateFlowMixin
from agents.framework.patches import (
    PATCH_CHAIN_CALL_IDS,
    PATCH_LOCAL_TOOLS,
    PATCH_NUMERIC_EDITS,
    PATCH_OPENING_CALLS,
    PATCH_OPENING_CALLS_AFTER,
    PATCH_UNIQUE_CALL_IDS,
    in_set,
    patched,
)
from agents.framework.policies import (
    LLM_HEARTBEAT,
    LLM_RETRY,
    LLM_SCHEDULE_TO_CLOSE,
    LLM_START_TO_CLOSE,
    PREPARE_RETRY,
    PREPARE_START_TO_CLOSE,
    TOOL_HEARTBEAT,
    TOOL_RETRY,
    TOOL_START_TO_CLOSE,
)

with workflow.unsafe.imports_passed_through():
    import agents.framework.gates as gates
    from agents.framework.call_ids import numbered, taken_ids, unique_call_ids
    from agents.framework.llm_types import LlmRequest, LlmResponse
    from agents.framework.opening_calls import opening_turn
    from agents.framework.types import (
        AgentRunSpec,
        ApprovalRule,
        ChatMessage,
        GateSnapshot,
        PreparedCase,
        Recommendation,
        ToolCall,
        ToolResult,
    )


# The loop opens, publishes and waits on tool gates, and prunes between turns: it builds on both.
class PlanningMixin(GateFlowMixin):
    async def _prepare(self) -> str:
        """Run the spec's `prepare` step; the agent then plans from the prepared case. Returns why
        the case could not be prepared, or "" once it is."""
        assert self._input is not None
        spec = self._input.spec
        try:
            prepared = await workflow.execute_activity(
                spec.prepare,
                self._input.case,
                result_type=PreparedCase,
                start_to_close_timeout=PREPARE_START_TO_CLOSE,
                retry_policy=PREPARE_RETRY,
            )
        except ActivityError as err:
            return _refusal_of(err)
        self._input = replace(
            self._input,
            case=prepared.case,
            spec=replace(spec, max_turns=max(spec.max_turns, prepared.max_turns)),
        )
        self._state.messages = [ChatMessage(role="user", content=json.dumps(prepared.case, sort_keys=True))]
        return ""

    async def _plan(self) -> tuple[Recommendation, str]:
        """Run the model/tool loop until the model answers; failures become a 'refer'. The first
        run of a chain makes the spec's opening calls first, as a turn of the framework's own."""
        assert self._input is not None
        spec, state = self._input.spec, self._state
        first_turn = self._input.carry is None and state.turn == 0 and len(state.messages) == 1
        if spec.opening_calls and first_turn and patched(PATCH_OPENING_CALLS):
            await self._opening_turn(opening_turn(spec.opening_calls, self._input.case))
            if spec.opening_calls_after and in_set(PATCH_OPENING_CALLS_AFTER):
                after = opening_turn(
                    spec.opening_calls_after,
                    self._input.case,
                    state.results,
                    start=len(spec.opening_calls) + 1,
                )
                await self._opening_turn(after)
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
            message = self._with_unique_call_ids(response.message)
            state.messages.append(message)
            if response.recommendation is not None:
                return response.recommendation, ""
            state.pending = list(message.tool_calls)

    async def _opening_turn(self, turn: ChatMessage | None) -> None:
        """The framework's turn of opening calls, and their results (none: nothing to make)."""
        if turn is not None:
            self._state.messages.append(turn)
            self._state.pending = list(turn.tool_calls)
            await self._resolve_turn()

    def _with_unique_call_ids(self, message: ChatMessage) -> ChatMessage:
        """The model's reply, its calls numbered by the workflow over the chain (a repeated id
        would find an earlier call's gate). Runs begun before: only a repeated id replaced, and
        before that, the provider's ids kept as they came."""
        if not message.tool_calls:  # an answer: nothing to number, nothing to read
            return message
        state = self._state
        taken = taken_ids(state.messages, self._gates.values(), [*state.results, *state.turn_results])
        if in_set(PATCH_CHAIN_CALL_IDS):
            message, state.call_seq = numbered(message, state.call_seq, taken)
            return message
        renamed = unique_call_ids(message, taken)
        if renamed is None or not patched(PATCH_UNIQUE_CALL_IDS):
            return message
        return renamed

    async def _revise(self, gate_id: str) -> None:
        """A reviewer sent the answer back: the agent re-plans with their instructions, and the
        same gate reopens with the new recommendation (the old one kept as a revision)."""
        if not self._state.revising:  # a continued run resuming the revision asked already
            gate = self._gates[gate_id]
            request = f"Reviewer {gate.decided_by} requested changes: {gate.reason}\nRevise your answer."
            self._state.messages.append(ChatMessage(role="user", content=request))
            self._state.revising = True
        answer, attention = await self._plan()
        self._state.revising = False
        # Read again: notes may have been added while the agent revised.
        reopened = self._reopen(self._gates[gate_id], answer)
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
            return _failed(call, f"Unknown tool '{call.name}'.")
        local = call.name in self._input.spec.local_tools and patched(PATCH_LOCAL_TOOLS)
        try:
            result = await _tool_activity(call, local=local)
        except ActivityError as err:
            return _failed(call, _failure_message(err))
        except ApplicationError as err:  # a local activity's own error, once its retries are spent
            return _failed(call, err.message)
        return ToolResult(call.id, call.name, ok=True, result=result, requested_by=call.requested_by)

    async def _after_review(self, gate: GateSnapshot) -> ToolResult:
        """Run an approved tool call with the reviewer's edits; tell the model about a rejection."""
        assert gate.tool_call is not None
        call = gate.tool_call
        if gate.status != "approved":
            verb = "asked for changes to" if gate.status == "changes_requested" else "rejected"
            return _failed(call, f"A reviewer {verb} this call ({gate.decided_by}): {gate.reason}")
        arguments = gates.proposal_after_review(gate, numbers=in_set(PATCH_NUMERIC_EDITS))
        return await self._call_tool(replace(call, arguments=arguments))


def _failed(call: ToolCall, error: str) -> ToolResult:
    """The result the model hears of a call that did not run or failed; it keeps who asked."""
    return ToolResult(call.id, call.name, ok=False, error=error, requested_by=call.requested_by)


def _tool_activity(call: ToolCall, *, local: bool) -> Awaitable[dict[str, Any]]:
    """The tool's activity; a `local=True` tool (deterministic and quick) runs as a local activity,
    with the same timeout and retries, and no heartbeat."""
    options: dict[str, Any] = {
        "result_type": dict,
        "start_to_close_timeout": TOOL_START_TO_CLOSE,
        "retry_policy": TOOL_RETRY,
    }
    if local:
        return workflow.execute_local_activity(call.name, call.arguments, **options)
    return workflow.execute_activity(call.name, call.arguments, heartbeat_timeout=TOOL_HEARTBEAT, **options)


def _approval_rule(spec: AgentRunSpec, call: ToolCall) -> ApprovalRule | None:
    return next((rule for rule in spec.approvals if rule.applies(call)), None)


def _referral(reason: str) -> Recommendation:
    return Recommendation(outcome="refer", rationale=reason, risk_factors=["needs attention"])


def _tool_content(result: ToolResult) -> str:
    body = result.result if result.ok else {"error": result.error}
    return json.dumps(body, sort_keys=True)


PREPARE_FAILED = (
    "The case could not be prepared for review because of an internal error. Nothing was reviewed; "
    "submit it again later, or ask the operators, who can see the run's history."
)


def _refusal_of(err: ActivityError) -> str:
    """What the submitter of a case the prepare step failed is told: the step's own words when it
    refused the case for good (a non-retryable ApplicationError, such as "Could not read this
    document"); plain words for anything else, whose details (paths, exceptions) stay in history
    for operators."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.non_retryable:
        return cause.message
    return PREPARE_FAILED


def _failure_message(err: ActivityError) -> str:
    # Temporal decodes every cause of an activity failure as a FailureError: each has a message.
    cause = err.cause
    while (
        isinstance(cause, FailureError)
        and cause.cause is not None
        and not isinstance(cause, ApplicationError)
    ):
        cause = cause.cause
    return str(cause.message if isinstance(cause, FailureError) else err)

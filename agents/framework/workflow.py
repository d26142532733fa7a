"""The one agent Workflow every team runs: plan with the model and tools, gate, act.

1. The model is called (an Activity) until it returns a recommendation; the tool calls it asks
   for in a turn run concurrently, each an Activity.
2. A human-in-the-loop gate opens, is published to the portal, and waits on a durable timer;
   reviewers answer through the `decide` Update; on SLA expiry the gate escalates or is rejected.
3. Only after a human (or the expiry policy) has decided does the downstream action run.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from agents.framework import gates
    from agents.framework.types import (
        AgentInput,
        AgentResult,
        ChatMessage,
        DecideInput,
        DecideResult,
        GateSnapshot,
        LlmRequest,
        LlmResponse,
        Recommendation,
        ToolCall,
        ToolResult,
    )

LLM_ACTIVITY = "llm_complete"
PUBLISH_ACTIVITY = "publish_gate"
PATCH_PUBLISH_LATE_DECISION = "publish-late-decision"

# The model: a few attempts with backoff; a 429's Retry-After overrides the interval per attempt.
LLM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=5,
)
LLM_START_TO_CLOSE = timedelta(seconds=90)
LLM_SCHEDULE_TO_CLOSE = timedelta(minutes=10)

# Tools: retried a few times; a tool that keeps failing becomes an error result the model sees.
TOOL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=20),
    maximum_attempts=3,
)
TOOL_START_TO_CLOSE = timedelta(seconds=30)

# The projection must catch up eventually, so publishing retries without an attempt limit.
PUBLISH_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
PUBLISH_START_TO_CLOSE = timedelta(seconds=15)

# A decided action (issue the offer, send the notice) must happen: retry for up to a day.
ACTION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5))
ACTION_START_TO_CLOSE = timedelta(minutes=2)
ACTION_SCHEDULE_TO_CLOSE = timedelta(days=1)


@workflow.defn
class AgentWorkflow:
    def __init__(self) -> None:
        self._gate: GateSnapshot | None = None
        self._published_version = 0

    @workflow.run
    async def run(self, input: AgentInput) -> AgentResult:
        spec = input.spec
        recommendation, results, model, offline, attention = await self._plan(input)
        now = workflow.now()
        self._gate = GateSnapshot(
            gate_id=f"{workflow.info().workflow_id}--g1",
            workflow_id=workflow.info().workflow_id,
            agent=spec.agent,
            kind=spec.gate.kind,
            subject=input.subject,
            case=input.case,
            submitted_by=input.submitted_by,
            recommendation=recommendation,
            tool_results=results,
            model=model,
            offline_model=offline,
            role=spec.gate.role,
            sla_seconds=spec.gate.sla_seconds,
            opened_at=now,
            deadline=now + timedelta(seconds=spec.gate.sla_seconds),
            needs_attention=attention,
        )
        await self._publish()
        await self._await_decision(input)

        gate = self._gate
        action_name = spec.on_approve if gate.status == "approved" else spec.on_reject
        action = await workflow.execute_activity(
            action_name,
            gate,
            result_type=dict,
            start_to_close_timeout=ACTION_START_TO_CLOSE,
            schedule_to_close_timeout=ACTION_SCHEDULE_TO_CLOSE,
            retry_policy=ACTION_RETRY,
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return AgentResult(gate=gate, outcome=gate.status, action=action)

    @workflow.update
    def decide(self, update: DecideInput) -> DecideResult:
        """A reviewer's approve or reject; the validator below has already refused bad ones."""
        assert self._gate is not None
        self._gate = gates.apply_decision(self._gate, update, workflow.now())
        return DecideResult(gate=self._gate)

    @decide.validator
    def validate_decide(self, update: DecideInput) -> None:
        refusal = gates.decision_refusal(self._gate, update, workflow.now())
        if refusal:
            raise ApplicationError(refusal, type="DecisionRefused", non_retryable=True)

    @workflow.query
    def gate(self) -> GateSnapshot | None:
        """The current gate, for the portal's reconcile and for debugging."""
        return self._gate

    async def _plan(self, input: AgentInput) -> tuple[Recommendation, list[ToolResult], str, bool, str]:
        """Run the model/tool loop until the model recommends; failures become a 'refer'."""
        spec = input.spec
        messages = [ChatMessage(role="user", content=json.dumps(input.case, sort_keys=True))]
        results: list[ToolResult] = []
        model, offline = spec.model, False
        for _turn in range(spec.max_turns):
            request = LlmRequest(spec.agent, spec.prompt, spec.model, messages, spec.tools)
            try:
                response = await workflow.execute_activity(
                    LLM_ACTIVITY,
                    request,
                    result_type=LlmResponse,
                    start_to_close_timeout=LLM_START_TO_CLOSE,
                    schedule_to_close_timeout=LLM_SCHEDULE_TO_CLOSE,
                    retry_policy=LLM_RETRY,
                )
            except ActivityError as err:
                reason = f"The model could not be used: {_failure_message(err)}"
                return _referral(reason), results, model, offline, reason
            model, offline = response.model, response.offline
            messages.append(response.message)
            if response.recommendation is not None:
                return response.recommendation, results, model, offline, ""
            turn = await asyncio.gather(
                *(self._call_tool(call, spec.tools) for call in response.message.tool_calls)
            )
            results.extend(turn)
            messages.extend(
                ChatMessage(role="tool", content=_tool_content(r), tool_call_id=r.call_id) for r in turn
            )
        reason = f"The model gave no recommendation within {spec.max_turns} turns."
        return _referral(reason), results, model, offline, reason

    async def _call_tool(self, call: ToolCall, allowed: list[str]) -> ToolResult:
        if call.name not in allowed:
            return ToolResult(call.id, call.name, ok=False, error=f"Unknown tool '{call.name}'.")
        try:
            result = await workflow.execute_activity(
                call.name,
                call.arguments,
                result_type=dict,
                start_to_close_timeout=TOOL_START_TO_CLOSE,
                retry_policy=TOOL_RETRY,
            )
        except ActivityError as err:
            return ToolResult(call.id, call.name, ok=False, error=_failure_message(err))
        return ToolResult(call.id, call.name, ok=True, result=result)

    async def _await_decision(self, input: AgentInput) -> None:
        """Wait on a durable timer; on SLA expiry apply the policy; publish every change."""
        assert self._gate is not None
        while self._gate.status == "pending":
            remaining = (self._gate.deadline - workflow.now()).total_seconds()
            try:
                await workflow.wait_condition(
                    lambda: self._gate is not None and self._gate.status != "pending",
                    timeout=max(remaining, 0.001),
                )
            except TimeoutError:
                if self._gate.status == "pending":
                    self._gate = gates.expire(self._gate, input.spec.gate, workflow.now())
            await self._publish()
        # A decision that arrived while the opening publish was in flight skipped the loop; the
        # projection must still learn it. Patched: runs recorded before this fix took no such step.
        if self._gate.version != self._published_version and workflow.patched(PATCH_PUBLISH_LATE_DECISION):
            await self._publish()

    async def _publish(self) -> None:
        assert self._gate is not None
        snapshot = self._gate
        await workflow.execute_activity(
            PUBLISH_ACTIVITY,
            snapshot,
            start_to_close_timeout=PUBLISH_START_TO_CLOSE,
            retry_policy=PUBLISH_RETRY,
        )
        self._published_version = snapshot.version


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

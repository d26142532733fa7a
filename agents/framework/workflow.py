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

import json

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from agents.framework.gate_flow import GateFlowMixin
from agents.framework.planning import PlanningMixin
from agents.framework.pruning import PruningMixin

with workflow.unsafe.imports_passed_through():
    from agents.framework import gates
    from agents.framework.types import (
        AgentInput,
        AgentOutcome,
        AgentResult,
        AgentState,
        AnnotateInput,
        AssignInput,
        ChatMessage,
        DecideInput,
        DecideResult,
        GateSnapshot,
    )


@workflow.defn
class AgentWorkflow(PlanningMixin, GateFlowMixin, PruningMixin):
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

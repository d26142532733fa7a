"""The one agent Workflow every team runs: plan with the model and tools, gate, act.

0. A spec with a `prepare` step first turns the submitted case into the one the agent plans
   from (e.g. reads an uploaded file); a case that cannot be prepared ends the run with why.
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

from agents.framework.carry_origin import CARRY_REFUSED, carry_refusal
from agents.framework.contract import (
    ACTION_REFUSED,
    AGENT_WORKFLOW,
    ALL_GATES_QUERY,
    ALREADY_APPLIED,
    ANNOTATE,
    ANNOTATION_REFUSED,
    APPLIED_ACTIONS_QUERY,
    APPROVED,
    ASSIGN,
    ASSIGNMENT_REFUSED,
    CHANGES_REQUESTED,
    DECIDE,
    DECISION_REFUSED,
    GATE_QUERY,
    UNPROCESSABLE,
)
from agents.framework.gate_flow import GateFlowMixin
from agents.framework.patches import PATCH_RESUME_AT_FINAL_GATE, patched, take_patch_set
from agents.framework.planning import PlanningMixin
from agents.framework.pruning import PruningMixin

with workflow.unsafe.imports_passed_through():
    import agents.framework.gate_changes as gate_changes
    import agents.framework.gates as gates
    import agents.framework.input_rules as input_rules
    import agents.framework.signing as signing
    from agents.framework.reviewer_actions import (
        ActionInput,
        ActionResult,
        AnnotateInput,
        AssignInput,
        DecideInput,
    )
    from agents.framework.types import (
        AgentInput,
        AgentOutcome,
        AgentResult,
        AgentState,
        ChatMessage,
        GateSnapshot,
        Recommendation,
        VerifyingKey,
    )

# How many applied action ids a run remembers (agents.framework.types.AgentState.applied).
APPLIED_ACTIONS_KEPT = 200


@workflow.defn(name=AGENT_WORKFLOW)
class AgentWorkflow(PlanningMixin, GateFlowMixin, PruningMixin):
    @workflow.init
    def __init__(self, input: AgentInput) -> None:
        # From the input here, not in run(): an Update can reach a continued run before run()
        # starts, and its validator must already see the carried gates and applied actions.
        self._input = input
        # A carry not from this run's own continue-as-new is never loaded; run() ends the run.
        self._forged_carry = carry_refusal(input.carry is not None, workflow.info())
        carry = None if self._forged_carry else input.carry
        first = ChatMessage(role="user", content=json.dumps(input.case, sort_keys=True))
        self._state = carry if carry is not None else AgentState(messages=[first])
        self._gates = {g.gate_id: g for g in self._state.gates}
        carried = self._state.published
        self._published = (
            dict(carried) if carried is not None else {g: s.version for g, s in self._gates.items()}
        )
        # Patches start from what the projection holds; a gate changed unpublished goes whole.
        self._published_gates = {g: s for g, s in self._gates.items() if self._published.get(g) == s.version}
        self._runs_turns = 0

    @workflow.run
    async def run(self, input: AgentInput) -> AgentResult:
        _refuse(CARRY_REFUSED, self._forged_carry)
        take_patch_set()
        spec = input.spec
        if spec.prepare and input.carry is None:
            refusal = await self._prepare()
            if refusal:
                return AgentResult(gate=None, outcome=UNPROCESSABLE, action={"reason": refusal})
        gate_id = self._final_gate_to_resume()
        if gate_id is None:
            answer, attention = await self._plan()
            if spec.gate is None:
                return await self._complete(answer)
            await self._open_sealed_results()  # the final gate shows every result as evidence
            gate = self._open_gate(spec.gate, answer, spec.editable, input.subject, attention=attention)
            await self._publish(gate.gate_id)
            await self._announce([gate.gate_id])
            gate_id = gate.gate_id
        await self._await_gates([gate_id])
        while self._gates[gate_id].status == CHANGES_REQUESTED:
            await self._revise(gate_id)
        gate = self._gates[gate_id]
        action = await self._act(spec.on_approve if gate.status == APPROVED else spec.on_reject, gate)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return AgentResult(gate=gate, outcome=gate.status, action=action, gates=list(self._gates.values()))

    async def _complete(self, answer: Recommendation) -> AgentResult:
        """Without a final gate: act on the answer with every gate and its decision."""
        assert self._input is not None
        spec, input = self._input.spec, self._input
        await self._open_sealed_results()
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
        return AgentResult(gate=None, outcome="completed", action=action, gates=list(self._gates.values()))

    def _final_gate_to_resume(self) -> str | None:
        """The final gate a continued run carries: the run waits on it instead of planning again.
        Patched: chains recorded before this fix planned again, and must replay that way."""
        assert self._input is not None
        if self._input.carry is None or self._input.spec.gate is None:
            return None
        final = next((g.gate_id for g in self._gates.values() if g.tool_call is None), None)
        if final is not None and patched(PATCH_RESUME_AT_FINAL_GATE):
            return final
        return None

    # --- reviewer actions: signed Updates ---------------------------------------------------------

    @workflow.update
    def decide(self, update: DecideInput) -> ActionResult:
        """A reviewer's approve, reject or request for changes, already checked by the validator."""
        return self._apply(update, gates.apply_decision(self._gates[update.gate_id], update, workflow.now()))

    @decide.validator
    def validate_decide(self, update: DecideInput) -> None:
        self._refuse_unless_authentic(DECIDE, update)
        refusal = gates.decision_refusal(self._gates.get(update.gate_id), update, workflow.now())
        _refuse(DECISION_REFUSED, refusal)

    @workflow.update
    def annotate(self, note: AnnotateInput) -> ActionResult:
        """A reviewer's comment on a gate, kept in history and shown beside the decision."""
        return self._apply(note, gates.annotate(self._gates[note.gate_id], note, workflow.now()))

    @annotate.validator
    def validate_annotate(self, note: AnnotateInput) -> None:
        self._refuse_unless_authentic(ANNOTATE, note)
        _refuse(ANNOTATION_REFUSED, gates.annotation_refusal(self._gates.get(note.gate_id), note))

    @workflow.update
    def assign(self, change: AssignInput) -> ActionResult:
        """Claim, unclaim or (re)assign a gate; in history, so the audit trail shows who held it."""
        return self._apply(change, gates.apply_assignment(self._gates[change.gate_id], change))

    @assign.validator
    def validate_assign(self, change: AssignInput) -> None:
        self._refuse_unless_authentic(ASSIGN, change)
        _refuse(ASSIGNMENT_REFUSED, gates.assignment_refusal(self._gates.get(change.gate_id), change))

    def pinned_keys(self) -> list[VerifyingKey]:
        """The keys this run trusts, for the worker's check of them (agents.framework.worker_keyring)."""
        assert self._input is not None
        return self._input.trusted_keys

    def _refuse_unless_authentic(self, action: str, update: ActionInput) -> None:
        """Refuse a malformed, unsigned or badly signed action before any rule reads it, and one
        this run has applied already (a redelivery)."""
        assert self._input is not None
        update_info = workflow.current_update_info()
        refusal = (
            signing.unsigned_refusal(update)
            or input_rules.action_input_refusal(update)
            or signing.signature_refusal(
                action,
                update,
                pinned=self._input.trusted_keys,
                workflow_id=workflow.info().workflow_id,
                update_id=update_info.id if update_info else "",
                now=workflow.now(),
            )
        )
        _refuse(ACTION_REFUSED, refusal)
        if update.action_id in self._state.applied:
            _refuse(ALREADY_APPLIED, "This action reached the agent before and was applied then.")

    def _apply(self, update: ActionInput, after: GateSnapshot) -> ActionResult:
        """Keep the changed gate and the action's id; answer with what changed, not the gate."""
        before = self._gates[after.gate_id]
        self._gates[after.gate_id] = after
        if update.action_id:
            self._state.applied = [*self._state.applied[-(APPLIED_ACTIONS_KEPT - 1) :], update.action_id]
        return ActionResult(change=gate_changes.patch(before, after))

    @workflow.query(name=GATE_QUERY)
    def gate(self) -> GateSnapshot | None:
        """The most recently opened gate, for the portal's reconcile and for debugging."""
        return next(reversed(self._gates.values()), None)

    @workflow.query(name=ALL_GATES_QUERY)
    def all_gates(self) -> list[GateSnapshot]:
        return list(self._gates.values())

    @workflow.query(name=APPLIED_ACTIONS_QUERY)
    def applied_actions(self) -> list[str]:
        """The portal's ids of the actions this run (and the runs it continued) applied."""
        return list(self._state.applied)


def _refuse(kind: str, refusal: str | None) -> None:
    if refusal:
        raise ApplicationError(refusal, type=kind, non_retryable=True)

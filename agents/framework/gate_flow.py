"""Gates in the agent workflow: open one, publish it to the portal's projection, wait for the
decision on a durable timer, apply the SLA policy on expiry, tell reviewers, act once decided."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from agents.framework.contract import (
    NOTIFY_ACTIVITY,
    PUBLISH_ACTIVITY,
    PUBLISH_CHANGE_ACTIVITY,
    PUBLISH_LOCAL_ACTIVITY,
)
from agents.framework.patches import (
    PATCH_FIRST_SEEN_OPENING,
    PATCH_GATE_PATCHES,
    PATCH_KEEP_SLA_ON_REVISION,
    PATCH_LOCAL_PUBLISH,
    PATCH_NOTIFY_ESCALATION,
    PATCH_PUBLISH_LATE_DECISION,
    PATCH_REVIEWER_NOTICES,
    in_set,
    patched,
)
from agents.framework.policies import (
    ACTION_RETRY,
    ACTION_SCHEDULE_TO_CLOSE,
    ACTION_START_TO_CLOSE,
    LOCAL_PUBLISH_RETRY,
    LOCAL_PUBLISH_SCHEDULE_TO_CLOSE,
    LOCAL_PUBLISH_START_TO_CLOSE,
    NOTIFY_RETRY,
    NOTIFY_START_TO_CLOSE,
    PUBLISH_RETRY,
    PUBLISH_START_TO_CLOSE,
)
from agents.framework.pruning import PruningMixin

with workflow.unsafe.imports_passed_through():
    import agents.framework.gates as gates
    import agents.framework.sla as sla
    from agents.framework.gate_changes import GatePublication, LocalPublication, patch
    from agents.framework.gate_content import content_digest
    from agents.framework.types import (
        ApprovalRule,
        GatePolicy,
        GateSnapshot,
        Notice,
        Recommendation,
        ToolCall,
    )


# Gates wait across continue-as-new: the gate flow builds on pruning.
class GateFlowMixin(PruningMixin):
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
            submitted_by_id=self._input.submitted_by_id,
            recommendation=recommendation,
            # A tool call's gate shows the run's small results (a score, a lookup) as evidence.
            tool_results=list(state.results)
            if tool_call is None
            else gates.tool_gate_evidence(state.results),
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
            claim_required=policy.claim_required,
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

        warnings = False if decided() else patched(PATCH_REVIEWER_NOTICES)
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
                warned, escalated = [], []
                for gate_id in gate_ids:
                    gate = self._gates[gate_id]
                    warn_at = gates.warning_time(gate, self._policy_of(gate)) if warnings else None
                    if gate.status == "pending" and gate.deadline <= nearest:
                        self._gates[gate_id] = gates.expire(gate, self._policy_of(gate), now)
                        if self._gates[gate_id].role != gate.role:
                            escalated.append(gate_id)
                    elif warn_at is not None and warn_at <= nearest:
                        self._gates[gate_id] = replace(gate, warned=True, version=gate.version + 1)
                        warned.append(gate_id)
                await self._notify("sla_warning", warned)
                # The new role hears at once, not from the next SLA warning. Patched: runs
                # recorded before escalated silently.
                if escalated and patched(PATCH_NOTIFY_ESCALATION):
                    await self._notify("escalated", escalated)
            await self._publish_changes(gate_ids)
        # A decision that arrived while the opening publish was in flight skipped the loop; the
        # projection must still learn it. Patched: runs recorded before this fix took no such step.
        if self._unpublished(gate_ids) and patched(PATCH_PUBLISH_LATE_DECISION):
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
        if urgent and patched(PATCH_REVIEWER_NOTICES):
            await self._notify("opened", urgent)

    def _reopen(self, gate: GateSnapshot, recommendation: Recommendation) -> GateSnapshot:
        """The agent's revision reopens the gate, with the SLA time that was left. Patched: runs
        recorded before reopened with a full SLA."""
        keep_clock = patched(PATCH_KEEP_SLA_ON_REVISION)
        return gates.reopen(gate, recommendation, workflow.now(), keep_clock=keep_clock)

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
        """Bring the portal's projection to the gate's current version. Patched: runs recorded
        before gate patches sent the whole gate every time."""
        snapshot = self._gates[gate_id]
        if patched(PATCH_GATE_PATCHES):
            snapshot = await self._publish_change(snapshot)
        else:
            await workflow.execute_activity(
                PUBLISH_ACTIVITY,
                snapshot,
                start_to_close_timeout=PUBLISH_START_TO_CLOSE,
                retry_policy=PUBLISH_RETRY,
            )
        self._published[gate_id] = max(snapshot.version, self._published.get(gate_id, 0))
        self._published_gates[gate_id] = snapshot

    async def _publish_change(self, snapshot: GateSnapshot) -> GateSnapshot:
        """Send what changed since the last publish, so history grows by each change once; the
        whole gate the first time, or when the projection says it missed a change. Answers the
        gate as published: opened when reviewers first saw it, should that be earlier."""
        last = self._published_gates.get(snapshot.gate_id)
        content = content_digest(snapshot)
        publication = (
            GatePublication(snapshot=snapshot, content=content)
            if last is None
            else GatePublication(
                patch=patch(last, snapshot), content=content, base_content=content_digest(last)
            )
        )
        in_sync, first_seen = await self._send_publication(publication, opening=last is None)
        if first_seen is not None:
            snapshot = self._opened_when_first_seen(snapshot, first_seen)
        if not in_sync and last is not None:
            await self._send_publication(GatePublication(snapshot=snapshot, content=content))
        return snapshot

    def _opened_when_first_seen(self, snapshot: GateSnapshot, first_seen: datetime) -> GateSnapshot:
        """An earlier try of this workflow task wrote the gate's opening at `first_seen` and failed
        before its task completed (its worker died): reviewers have seen the gate since, so the run
        takes that time for its gate and SLA timer, if earlier and the gate is at its opening
        (`sla.at_opening`). Asked through the set: a run begun before keeps the retry's own time."""
        taken = in_set(PATCH_FIRST_SEEN_OPENING)
        adopted = sla.first_seen_opening(snapshot, first_seen) if taken else None
        if adopted is None:
            why = "not earlier, or not at its opening" if taken else "the run began before the patch"
            workflow.logger.warning("%s: opening time %s not taken: %s", snapshot.gate_id, first_seen, why)
            return snapshot
        current = self._gates[snapshot.gate_id]  # an Update may have changed it meanwhile
        self._gates[snapshot.gate_id] = replace(
            current, opened_at=adopted.opened_at, deadline=adopted.deadline
        )
        return adopted

    async def _send_publication(
        self, publication: GatePublication, *, opening: bool = False
    ) -> tuple[bool, datetime | None]:
        """A gate's opening is published in the task that opened it (a local activity: no round trip,
        the run at its gate a task sooner); if the projection does not take it within seconds, as a
        task the server retries. A change after that is a task: most follow an Update, whose answer
        would wait on a local publish. Asked through the set: a run begun before local publish
        publishes by tasks. Each names the run's chain (GatePublication.chain)."""
        publication = replace(publication, chain=workflow.info().first_execution_run_id)
        if opening and in_set(PATCH_LOCAL_PUBLISH):
            try:
                published: LocalPublication = await workflow.execute_local_activity(
                    PUBLISH_LOCAL_ACTIVITY,
                    publication,
                    result_type=LocalPublication,
                    start_to_close_timeout=LOCAL_PUBLISH_START_TO_CLOSE,
                    schedule_to_close_timeout=LOCAL_PUBLISH_SCHEDULE_TO_CLOSE,
                    retry_policy=LOCAL_PUBLISH_RETRY,
                )
                return published.in_sync, published.first_seen
            except (ActivityError, ApplicationError) as err:  # a local activity raises its own error
                workflow.logger.warning("publishing as a task, the local publish failed: %s", err)
        in_sync: bool = await workflow.execute_activity(
            PUBLISH_CHANGE_ACTIVITY,
            publication,
            result_type=bool,
            start_to_close_timeout=PUBLISH_START_TO_CLOSE,
            retry_policy=PUBLISH_RETRY,
        )
        return in_sync, None

    async def _act(self, activity_name: str, argument: object) -> dict[str, Any]:
        action: dict[str, Any] = await workflow.execute_activity(
            activity_name,
            argument,
            result_type=dict,
            start_to_close_timeout=ACTION_START_TO_CLOSE,
            schedule_to_close_timeout=ACTION_SCHEDULE_TO_CLOSE,
            retry_policy=ACTION_RETRY,
        )
        return action

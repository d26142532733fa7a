"""History pruning: long agent loops summarise their old turns and continue-as-new, carrying the
open gates, the pending tool calls and the chain of previous runs.

What a continuation carries stays bounded however long the loop: the summary is made again from
the previous one and the new turns (never appended to), and a spec that names its
`carried_results` carries only those tools' results (a review's findings), not every result of the
chain (the text of every section it read, which the tools read again by index when they need it).
Of those, at most the spec's `carried_results_max` travel in history; older ones are sealed beside
it in chunks and carried by reference (agents/framework/result_store.py), opened again once when
the run needs them all.
"""

from __future__ import annotations

from dataclasses import replace

from temporalio import workflow
from temporalio.exceptions import ActivityError

from agents.framework.contract import (
    FORGET_RESULTS_ACTIVITY,
    OPEN_RESULTS_ACTIVITY,
    SEAL_RESULTS_ACTIVITY,
    SUMMARISE_ACTIVITY,
)
from agents.framework.patches import PATCH_BOUNDED_CARRY, PATCH_SEALED_RESULTS, patched
from agents.framework.policies import (
    FORGET_RESULTS_RETRY,
    LLM_HEARTBEAT,
    LLM_RETRY,
    LLM_SCHEDULE_TO_CLOSE,
    LLM_START_TO_CLOSE,
    SEAL_RESULTS_SCHEDULE_TO_CLOSE,
    SEALED_RESULTS_RETRY,
    SEALED_RESULTS_START_TO_CLOSE,
)
from agents.framework.run_state import AgentRunState

with workflow.unsafe.imports_passed_through():
    from agents.framework.llm_types import SummariseRequest, SummariseResponse
    from agents.framework.run_spec import MIN_CARRIED_RESULTS
    from agents.framework.types import AgentRunSpec, ChatMessage, ToolResult


class PruningMixin(AgentRunState):
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
        if spec.carried_results is not None and patched(PATCH_BOUNDED_CARRY):
            state.results = carried_results(spec, state.results)
        await self._seal_oldest_results()
        # Last, after every await: the carry takes what the handlers left.
        await workflow.wait_condition(workflow.all_handlers_finished)
        state.gates = list(self._gates.values())
        state.published = dict(self._published)
        state.previous_runs = [*state.previous_runs, workflow.info().run_id]
        workflow.continue_as_new(replace(self._input, carry=state))

    async def _seal_oldest_results(self) -> None:
        """Past the spec's `carried_results_max`, seal all but the latest half beside history and
        carry their reference (the latest stay: a tool gate shows them as evidence). If the store
        cannot take them, they are carried as before: the run never stops for it."""
        assert self._input is not None
        state, most = self._state, self._input.spec.carried_results_max
        if most < MIN_CARRIED_RESULTS or len(state.results) <= most:
            return
        if not patched(PATCH_SEALED_RESULTS):
            return
        keep = len(state.results) - most // 2
        oldest, latest = state.results[:keep], state.results[keep:]
        try:
            ref = await workflow.execute_activity(
                SEAL_RESULTS_ACTIVITY,
                oldest,
                result_type=str,
                start_to_close_timeout=SEALED_RESULTS_START_TO_CLOSE,
                schedule_to_close_timeout=SEAL_RESULTS_SCHEDULE_TO_CLOSE,
                retry_policy=SEALED_RESULTS_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("Results carried unsealed: the store refused them (%s)", err.cause)
            return
        state.sealed_results = [*state.sealed_results, ref]
        state.results = latest

    async def _open_sealed_results(self) -> None:
        """Bring every sealed result back before the ones carried, once, for a step that needs
        them all (the outcome, the final gate's evidence); then delete the chunks, whose results
        are in this run's history now."""
        state = self._state
        if not state.sealed_results:
            return
        opened = await workflow.execute_activity(
            OPEN_RESULTS_ACTIVITY,
            state.sealed_results,
            result_type=list[ToolResult],
            # No deadline: a store or key still missing is retried until it is back.
            start_to_close_timeout=SEALED_RESULTS_START_TO_CLOSE,
            retry_policy=SEALED_RESULTS_RETRY,
        )
        refs = state.sealed_results
        state.results, state.sealed_results = [*opened, *state.results], []
        try:
            await workflow.execute_activity(
                FORGET_RESULTS_ACTIVITY,
                refs,
                result_type=int,
                start_to_close_timeout=SEALED_RESULTS_START_TO_CLOSE,
                retry_policy=FORGET_RESULTS_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("Sealed results kept: they could not be deleted (%s)", err.cause)


def carried_results(spec: AgentRunSpec, results: list[ToolResult]) -> list[ToolResult]:
    """The results a continuation needs: those of the spec's `carried_results` tools (all of them
    when it names none)."""
    if spec.carried_results is None:
        return list(results)
    kept = set(spec.carried_results)
    return [r for r in results if r.name in kept]

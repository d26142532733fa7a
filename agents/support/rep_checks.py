"""The checks a support rep's signed action passes in the conversation workflow: its signature and
the holder's rules in the Update's validator, and again in its turn (a close or another rep's
claim may have come first). A mixin of SupportConversationWorkflow, run inside its handlers."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import agents.support.handoff as handoff
    import agents.support.rep_actions as rep_actions
    from agents.support.contract import (
        REP_ACTION_APPLIED,
        REP_ACTION_REFUSED,
        REP_RELEASE,
        Handoff,
        RepAction,
        SupportInput,
    )


# Handlers check again, in their turn, what their validators checked: an Update queued behind a
# close is refused. Histories recorded before this applied such Updates, and replay that way.
RECHECK_IN_TURN = "support-recheck-in-turn"


class RepChecksMixin:
    """What the checks read of the conversation (set by the workflow's __init__)."""

    _input: SupportInput
    _handoff: Handoff | None
    _closed: bool
    _applied: list[str]

    def _refuse_unless_rep(self, name: str, action: RepAction) -> None:
        closed = handoff.open_refusal(self._handoff, closed=self._closed)
        if closed:
            raise ApplicationError(closed, type=REP_ACTION_REFUSED, non_retryable=True)
        update = workflow.current_update_info()
        refusal = rep_actions.rep_action_refusal(
            name,
            action,
            pinned=self._input.trusted_keys,
            workflow_id=workflow.info().workflow_id,
            update_id=update.id if update else "",
            now=workflow.now(),
        )
        if refusal:
            raise ApplicationError(refusal, type=REP_ACTION_REFUSED, non_retryable=True)
        assert self._handoff is not None and self._handoff.gate is not None
        gate = self._handoff.gate
        releasing = name == REP_RELEASE
        held = handoff.release_refusal(gate, action) if releasing else handoff.holder_refusal(gate, action)
        if held:
            raise ApplicationError(held, type=REP_ACTION_REFUSED, non_retryable=True)
        if action.action_id in self._applied:
            raise ApplicationError(
                "This action was applied before.", type=REP_ACTION_APPLIED, non_retryable=True
            )

    def _recheck_rep(self, action: RepAction) -> None:
        """Refuse, in its turn, a rep's action the turns before it made wrong (a close, another
        rep's claim); its signature was checked by its validator."""
        refusal = handoff.open_refusal(self._handoff, closed=self._closed)
        if refusal is None and self._handoff is not None and self._handoff.gate is not None:
            refusal = handoff.holder_refusal(self._handoff.gate, action)
        if refusal and workflow.patched(RECHECK_IN_TURN):
            raise ApplicationError(refusal, type=REP_ACTION_REFUSED, non_retryable=True)

    def _release_refusal(self, action: RepAction) -> str | None:
        refusal = handoff.open_refusal(self._handoff, closed=self._closed)
        if refusal is None and self._handoff is not None and self._handoff.gate is not None:
            refusal = handoff.release_refusal(self._handoff.gate, action)
        return refusal

"""A customer's support conversation as one durable workflow (a chain of runs).

Each customer message is an Update whose handler runs the turn: the model (the framework's LLM
activity) looks the account up and raises tickets (tool activities), and the reply is the
Update's result. When the agent cannot resolve the enquiry it hands off: a gate for the support
reps appears in the portal's inbox, and from then on a rep answers through the signed `rep_reply`
(the first rep's reply takes the conversation; an admin's takes nothing) and ends the conversation
with `rep_close`; an admin or a supervisor frees a taken one with `rep_release`. A handoff no rep
has taken by its gate's deadline expires on a durable timer, raises a ticket and closes the chat.
Every message, reply and release is in history. After `messages_per_run` customer messages the
run continues as new, carrying a summary, the last entries and the handoff (with its deadline).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from agents.framework.carry_origin import CARRY_REFUSED, carry_refusal
from agents.framework.contract import ALL_GATES_QUERY
from agents.support.rep_checks import RECHECK_IN_TURN, RepChecksMixin
from agents.support.turn import AgentTurnMixin, carried_summary

with workflow.unsafe.imports_passed_through():
    # Imported here so the sandbox knows the modules: the converter resolves RepAction.signature's
    # own field types (Signature's endorsements) and SupportInput's spec through them.
    import agents.framework.reviewer_actions
    import agents.framework.run_spec  # noqa: F401
    import agents.support.handoff as handoff
    import agents.support.rep_actions as rep_actions
    from agents.framework.types import ADMIN_ROLE, GateSnapshot, VerifyingKey
    from agents.support.contract import (
        CLOSED,
        CONVERSATION_CLOSED,
        CUSTOMER,
        CUSTOMER_MESSAGE,
        HANDED_OFF,
        KEPT_ENTRIES,
        MESSAGE_REFUSED,
        OPEN,
        REP,
        REP_ACTION_REFUSED,
        REP_CLOSE,
        REP_RELEASE,
        REP_REPLY,
        SUPPORT_WORKFLOW,
        SYSTEM,
        TRANSCRIPT_QUERY,
        WAITING,
        ConversationCarry,
        ConversationResult,
        CustomerMessage,
        RepAction,
        SupportInput,
        Transcript,
        TurnReply,
    )

# How many rep action ids a conversation remembers, to apply a redelivered one once.
APPLIED_KEPT = 50
# An untaken handoff expires at its gate's deadline. Histories recorded before this waited on the
# silence timer alone, waking for no handoff, and replay that way.
HANDOFF_EXPIRY = "support-handoff-expiry"
# An admin's reply leaves the handoff untaken. Histories recorded before this had the first
# replier take it, admin or not, and replay that way.
ADMIN_REPLY_UNTAKEN = "support-admin-reply-untaken"


@workflow.defn(name=SUPPORT_WORKFLOW)
class SupportConversationWorkflow(AgentTurnMixin, RepChecksMixin):
    @workflow.init
    def __init__(self, input: SupportInput) -> None:
        # Here, not in run(): an Update may reach a continued run before run() starts.
        self._input = input
        # A carry not from this conversation's own continue-as-new is never loaded; run() ends it.
        self._forged_carry = carry_refusal(input.carry is not None, workflow.info())
        carry = (None if self._forged_carry else input.carry) or ConversationCarry()
        self._summary = carry.summary
        self._entries = list(carry.recent)
        self._count = carry.count
        self._handoff = carry.handoff
        self._previous = list(carry.previous_runs)
        self._applied = list(carry.applied)
        self._closed = False
        self._run_messages = 0
        self._heard = self._count  # entries when the run last looked: silence is measured from it
        self._due: datetime | None = None  # the untaken handoff's deadline the run's timer waits for
        self._offline = False
        self._turn = asyncio.Lock()  # one turn at a time: messages are answered in order

    @workflow.run
    async def run(self, input: SupportInput) -> ConversationResult:
        if self._forged_carry:
            raise ApplicationError(self._forged_carry, type=CARRY_REFUSED, non_retryable=True)

        def done() -> bool:
            return self._closed or self._run_messages >= input.messages_per_run

        expiring = workflow.patched(HANDOFF_EXPIRY)
        while not done():
            self._heard = self._count
            self._due = due = handoff.expiry_due(self._handoff) if expiring else None
            now, idle = workflow.now(), timedelta(seconds=input.idle_seconds)
            timeout = handoff.wait_time(idle, due, now)
            try:
                await workflow.wait_condition(
                    lambda: done() or self._count != self._heard or self._due_moved(expiring),
                    timeout=timeout,
                )
            except TimeoutError:
                if due is not None and due <= now + timeout:  # the untaken handoff's timer fired
                    await self._expire_handoff(due)
                elif self._handoff is None:  # a rep's conversation stays until they close it
                    self._add(SYSTEM, "This conversation was closed after a long silence.")
                    self._closed = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        if not self._closed:
            workflow.continue_as_new(replace(input, carry=self._carry()))
        return ConversationResult(status=CLOSED, messages=self._count)

    def _due_moved(self, expiring: bool) -> bool:
        """The handoff was made, taken or decided since the loop set its timer: set it again."""
        return expiring and handoff.expiry_due(self._handoff) != self._due

    # --- the customer's channel --------------------------------------------------------------

    @workflow.update(name=CUSTOMER_MESSAGE)
    async def customer_message(self, message: CustomerMessage) -> TurnReply:
        """A customer's message: answered by the agent, or kept for the rep after a handoff."""
        async with self._turn:
            if self._closed_to_customer() and workflow.patched(RECHECK_IN_TURN):
                raise _closed_error()
            self._run_messages += 1
            index = self._add(CUSTOMER, message.text).index
            if self._handoff is not None:
                return TurnReply(status=WAITING, reply="", index=index)
            return await self._answer(index)

    @customer_message.validator
    def validate_customer_message(self, message: CustomerMessage) -> None:
        if self._closed_to_customer():
            raise _closed_error()
        refusal = rep_actions.message_refusal(getattr(message, "text", None))
        if refusal:
            raise ApplicationError(refusal, type=MESSAGE_REFUSED, non_retryable=True)

    # --- the support rep's channel: signed by the portal -------------------------------------

    @workflow.update(name=REP_REPLY)
    async def rep_reply(self, action: RepAction) -> TurnReply:
        """A representative's reply to the customer; the first rep's takes the gate (an admin's not)."""
        async with self._turn:
            self._recheck_rep(action)
            return await self._rep_reply(action)

    async def _rep_reply(self, action: RepAction) -> TurnReply:
        entry = self._add(REP, action.text, by=action.rep)
        self._remember(action)
        assert self._handoff is not None and self._handoff.gate is not None
        await self._publish(self._claimed(self._handoff.gate, action))
        return TurnReply(status=HANDED_OFF, reply=action.text, index=entry.index)

    def _claimed(self, gate: GateSnapshot, action: RepAction) -> GateSnapshot:
        # The patch is asked only where it decides, so other replies record no marker.
        admin_first = ADMIN_ROLE in action.rep_roles and not gate.assignee_id
        admin_takes = admin_first and not workflow.patched(ADMIN_REPLY_UNTAKEN)
        return handoff.claimed(gate, action, admin_takes=admin_takes)

    @rep_reply.validator
    def validate_rep_reply(self, action: RepAction) -> None:
        self._refuse_unless_rep(REP_REPLY, action)

    @workflow.update(name=REP_CLOSE)
    async def rep_close(self, action: RepAction) -> TurnReply:
        """A representative ends the conversation; the handoff gate is decided."""
        async with self._turn:
            self._recheck_rep(action)
            return await self._rep_close(action)

    async def _rep_close(self, action: RepAction) -> TurnReply:
        entry = self._add(REP, action.text, by=action.rep)
        self._remember(action)
        assert self._handoff is not None and self._handoff.gate is not None
        self._handoff.closed = True
        self._closed = True
        await self._publish(handoff.closed(self._handoff.gate, action, workflow.now()))
        return TurnReply(status=CLOSED, reply=action.text, index=entry.index)

    @rep_close.validator
    def validate_rep_close(self, action: RepAction) -> None:
        self._refuse_unless_rep(REP_CLOSE, action)

    @workflow.update(name=REP_RELEASE)
    async def rep_release(self, action: RepAction) -> TurnReply:
        """An admin or a supervisor frees a handoff its holder left: any rep may take it with a
        reply, and untaken it expires again, counted from now. Who released it stays in history."""
        async with self._turn:
            refusal = self._release_refusal(action)  # a close or another release may have come first
            if refusal:
                raise ApplicationError(refusal, type=REP_ACTION_REFUSED, non_retryable=True)
            self._remember(action)
            assert self._handoff is not None and self._handoff.gate is not None
            await self._publish(handoff.released(self._handoff.gate, workflow.now()))
            return TurnReply(status=HANDED_OFF, reply="", index=self._count - 1)

    @rep_release.validator
    def validate_rep_release(self, action: RepAction) -> None:
        self._refuse_unless_rep(REP_RELEASE, action)

    def pinned_keys(self) -> list[VerifyingKey]:
        """The keys this conversation trusts, for the worker's check (agents.framework.worker_keyring)."""
        return self._input.trusted_keys

    def _closed_to_customer(self) -> bool:
        return self._closed or (self._handoff is not None and self._handoff.closed)

    @workflow.query(name=ALL_GATES_QUERY)
    def all_gates(self) -> list[GateSnapshot]:
        """The handoff gate, as the shared workflow answers the portal's inbox about its gates."""
        gate = self._handoff.gate if self._handoff else None
        return [gate] if gate else []

    @workflow.query(name=TRANSCRIPT_QUERY)
    def transcript(self) -> Transcript:
        """What this run holds of the conversation: a summary of older entries and the rest."""
        status = CLOSED if self._closed else HANDED_OFF if self._handoff else OPEN
        gate = self._handoff.gate if self._handoff else None
        return Transcript(
            customer_id=self._input.customer_id,
            status=status,
            summary=self._summary,
            entries=list(self._entries),
            gate_id=gate.gate_id if gate else "",
            previous_runs=list(self._previous),
        )

    # --- the transcript and what a continued run carries ---------------------------------------

    def _remember(self, action: RepAction) -> None:
        self._applied = [*self._applied[-(APPLIED_KEPT - 1) :], action.action_id]

    def _carry(self) -> ConversationCarry:
        older, recent = self._entries[:-KEPT_ENTRIES], self._entries[-KEPT_ENTRIES:]
        return ConversationCarry(
            summary=carried_summary(self._summary, older),
            recent=recent,
            count=self._count,
            handoff=self._handoff,
            previous_runs=[*self._previous, workflow.info().run_id][-20:],
            applied=self._applied,
        )


def _closed_error() -> ApplicationError:
    return ApplicationError("This conversation is closed.", type=CONVERSATION_CLOSED, non_retryable=True)

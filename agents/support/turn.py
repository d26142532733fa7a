"""The agent's side of a support conversation: one turn (the model, then its tool calls, until it
answers), the handoff to a person when it cannot resolve the enquiry, and what the customer is
told when no person took it in time. A mixin of SupportConversationWorkflow, run inside its
handlers and its loop."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError

from agents.framework.contract import LLM_ACTIVITY, NOTIFY_ACTIVITY, PENDING, PUBLISH_ACTIVITY
from agents.framework.policies import (
    LLM_HEARTBEAT,
    LLM_RETRY,
    LLM_START_TO_CLOSE,
    NOTIFY_RETRY,
    NOTIFY_START_TO_CLOSE,
    PUBLISH_RETRY,
    PUBLISH_START_TO_CLOSE,
    TOOL_HEARTBEAT,
    TOOL_RETRY,
    TOOL_START_TO_CLOSE,
)

with workflow.unsafe.imports_passed_through():
    import agents.framework.gates as gates
    import agents.support.handoff as handoff
    import agents.support.tools as tools
    from agents.framework.llm_types import LlmRequest, LlmResponse
    from agents.framework.types import ChatMessage, GateSnapshot, Notice, ToolCall
    from agents.support.contract import (
        ACCOUNT_HISTORY,
        ANSWERED,
        ASSISTANT,
        CUSTOMER,
        HANDED_OFF,
        RAISE_TICKET,
        SUMMARY_LIMIT,
        SYSTEM,
        Entry,
        Handoff,
        SupportInput,
        TurnReply,
    )

# Model calls per customer message before the agent gives up and hands off.
MAX_STEPS = 4
# The outcome of an answer the customer reads; any other hands the conversation off.
ANSWERED_OUTCOME = "reply"
HANDOFF_NOTE = "A support representative will join this conversation shortly."
# How much of an entry a continued run's summary keeps.
SUMMARY_LINE_CHARS = 200


def summary_line(entry: Entry) -> str:
    """`entry` as one line of a continued run's summary: its words quoted on one line, so a
    customer's text can never read as another line (a forged `rep: ...`)."""
    words = " ".join(entry.text.split())[:SUMMARY_LINE_CHARS]
    return f"{entry.author}: {json.dumps(words, ensure_ascii=False)}"


def carried_summary(summary: str, older: list[Entry]) -> str:
    """`summary` with the lines of `older` added, kept to SUMMARY_LIMIT in whole lines: a line cut
    at its start could begin with words from inside a customer's quote."""
    carried = "\n".join([summary, *(summary_line(e) for e in older)]).strip()
    if len(carried) <= SUMMARY_LIMIT:
        return carried
    return carried[-SUMMARY_LIMIT:].partition("\n")[2]


class AgentTurnMixin:
    """What a turn reads and writes of the conversation (set by the workflow's __init__)."""

    _input: SupportInput
    _summary: str
    _entries: list[Entry]
    _count: int
    _handoff: Handoff | None
    _offline: bool
    _closed: bool
    _turn: asyncio.Lock

    async def _answer(self, index: int) -> TurnReply:
        spec = self._input.spec
        messages = self._model_messages()
        for _ in range(MAX_STEPS):
            request = LlmRequest(
                agent=spec.agent,
                prompt=spec.prompt,
                model=spec.model,
                messages=messages,
                tools=list(spec.tools),
                outcomes=list(spec.outcomes),
            )
            try:
                response = await workflow.execute_activity(
                    LLM_ACTIVITY,
                    request,
                    result_type=LlmResponse,
                    start_to_close_timeout=LLM_START_TO_CLOSE,
                    heartbeat_timeout=LLM_HEARTBEAT,
                    retry_policy=LLM_RETRY,
                )
            except ActivityError as err:
                return await self._hand_off(index, f"The model could not answer: {err.cause or err}")
            self._offline = response.offline
            answer = response.recommendation
            if answer is not None:
                reply = str(answer.proposal.get("reply", "")).strip()
                if answer.outcome != ANSWERED_OUTCOME or not reply:
                    return await self._hand_off(index, answer.rationale, reply)
                self._add(ASSISTANT, reply)
                return TurnReply(status=ANSWERED, reply=reply, index=index)
            calls = response.message.tool_calls
            results = await asyncio.gather(*(self._tool(call, index) for call in calls))
            messages = [
                *messages,
                response.message,
                *(
                    ChatMessage(role="tool", content=r, tool_call_id=c.id)
                    for c, r in zip(calls, results, strict=True)
                ),
            ]
        return await self._hand_off(index, "The agent could not settle on an answer.")

    async def _tool(self, call: ToolCall, index: int) -> str:
        """Run one tool call with arguments the conversation sets: the customer is always this
        conversation's customer, whatever the model wrote."""
        customer_id = self._input.customer_id
        argument: object
        if call.name == ACCOUNT_HISTORY:
            argument = tools.AccountArgs(customer_id=customer_id)
        elif call.name == RAISE_TICKET:
            summary = str(call.arguments.get("summary", ""))[:500]
            argument = tools.TicketArgs(summary=summary, customer_id=customer_id, message_index=index)
        else:
            return json.dumps({"error": f"No tool {call.name}."})
        try:
            result = await workflow.execute_activity(
                call.name,
                argument,
                result_type=dict,
                start_to_close_timeout=TOOL_START_TO_CLOSE,
                heartbeat_timeout=TOOL_HEARTBEAT,
                retry_policy=TOOL_RETRY,
            )
        except ActivityError as err:
            return json.dumps({"error": str(err.cause or err)})
        return json.dumps(result, sort_keys=True)

    async def _hand_off(self, index: int, reason: str, reply: str = "") -> TurnReply:
        """Open the handoff gate for the support reps and tell the customer a person is coming."""
        gate = handoff.handoff_gate(
            workflow_id=workflow.info().workflow_id,
            spec=self._input.spec,
            customer_id=self._input.customer_id,
            reason=reason,
            offline=self._offline,
            now=workflow.now(),
        )
        self._handoff = Handoff(reason=reason)
        note = f"{reply} {HANDOFF_NOTE}".strip() if reply else HANDOFF_NOTE
        self._add(ASSISTANT, note)
        await self._publish(gate)
        await self._notify(gate)
        return TurnReply(status=HANDED_OFF, reply=note, index=index)

    async def _expire_handoff(self, due: datetime) -> None:
        """No rep took the handoff by its deadline: the gate expires by its policy and, once it is
        decided, a ticket carries the enquiry on, the customer is told so, and the chat closes."""
        async with self._turn:  # after any turn in flight: a rep's reply there takes the handoff
            if handoff.expiry_due(self._handoff) != due:
                return
            assert self._handoff is not None and self._handoff.gate is not None
            policy = handoff.handoff_policy(self._input.spec)
            gate = gates.expire(self._handoff.gate, policy, workflow.now())
            await self._publish(gate)
            if gate.status == PENDING:  # escalated: the conversation waits on its new deadline
                return
            self._handoff.closed = True
            self._closed = True
            ticket = await self._raise_expiry_ticket(self._handoff.reason)
            self._add(SYSTEM, handoff.expiry_notice(ticket))

    async def _raise_expiry_ticket(self, reason: str) -> str | None:
        """The back office's ticket for a handoff nobody took (keyed by the notice's index, so a
        redelivered activity raises no second one); None if it could not be raised."""
        args = tools.TicketArgs(
            summary=handoff.expiry_ticket_summary(reason),
            customer_id=self._input.customer_id,
            message_index=self._count,
        )
        try:
            ticket = await workflow.execute_activity(
                RAISE_TICKET,
                args,
                result_type=dict,
                start_to_close_timeout=TOOL_START_TO_CLOSE,
                heartbeat_timeout=TOOL_HEARTBEAT,
                retry_policy=TOOL_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("could not raise the expired handoff's ticket: %s", err)
            return None
        return str(ticket.get("ticket", "")) or None

    async def _notify(self, gate: GateSnapshot) -> None:
        """Tell the reps a customer is waiting (the portal's e-mail); never holds the customer up."""
        try:
            await workflow.execute_activity(
                NOTIFY_ACTIVITY,
                Notice("opened", gate),
                start_to_close_timeout=NOTIFY_START_TO_CLOSE,
                retry_policy=NOTIFY_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("could not notify the support reps: %s", err)

    async def _publish(self, gate: GateSnapshot) -> None:
        """Send the gate whole to the portal's projection (the framework's publish activity)."""
        assert self._handoff is not None
        await workflow.execute_activity(
            PUBLISH_ACTIVITY,
            gate,
            result_type=bool,
            start_to_close_timeout=PUBLISH_START_TO_CLOSE,
            retry_policy=PUBLISH_RETRY,
        )
        self._handoff.gate = gate

    def _model_messages(self) -> list[ChatMessage]:
        case = ChatMessage(role="user", content=json.dumps({"customer_id": self._input.customer_id}))
        earlier = [ChatMessage(role="user", content=f"Earlier in this conversation:\n{self._summary}")]
        spoken = [
            ChatMessage(role="user" if e.author == CUSTOMER else "assistant", content=e.text)
            for e in self._entries
            if e.author != SYSTEM
        ]
        return [case, *(earlier if self._summary else []), *spoken]

    def _add(self, author: str, text: str, *, by: str = "") -> Entry:
        entry = Entry(index=self._count, author=author, text=text, at=workflow.now(), by=by)
        self._entries.append(entry)
        self._count += 1
        return entry

"""Tool call ids the workflow can trust: its own, unique across the run's chain.

The workflow finds a gated call's gate, and a call's result, by the call's id, and so does what
reads the run afterwards (the regulatory report matches findings to their reviewers' gates). The
id comes from the provider, and no OpenAI-compatible API promises it is unique: some servers
number calls from `call_0` in every reply, some send "", and a prompt-injected model can repeat
one on purpose. A repeated id matched an earlier call's gate (approved already), re-running that
call and keeping the new one from any reviewer; after a continue-as-new it could credit one
finding with another's reviewer.

So the workflow numbers every call of the model's replies itself, `wf0000001` on, counting over
the chain (`AgentState.call_seq`), and keeps the provider's id beside it (`provider_id`); the
provider is sent the workflow's ids back. Runs begun before the numbering (patch
`chain-call-ids`) replace only an empty, repeated or taken id (`unique_call_ids`, patch
`unique-call-ids`). Pure and deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import replace

from agents.framework.types import ChatMessage, GateSnapshot, ToolResult

# Nine letters and digits, which every OpenAI-compatible API takes: what `unique_call_ids` gives
# a repeated id (`rid000001`), and, in a form of its own that it never gave, what the workflow
# numbers calls with (`wf0000001`).
FRESH_ID = "rid{:06d}"
NUMBERED_ID = "wf{:07d}"


def numbered(message: ChatMessage, last: int, taken: Set[str] = frozenset()) -> tuple[ChatMessage, int]:
    """The reply with its calls numbered on from `last` (the chain's count so far), each keeping
    the provider's id as `provider_id`, and the count after them. A number whose id is `taken`
    (in a chain begun before the numbering, an id the provider chose) is skipped. A count below 0
    (only a carry forged through Temporal could hold one) counts from 0."""
    calls, last = [], max(last, 0)
    for call in message.tool_calls:
        last += 1
        while NUMBERED_ID.format(last) in taken:
            last += 1
        calls.append(replace(call, id=NUMBERED_ID.format(last), provider_id=call.id))
    return replace(message, tool_calls=calls), last


def taken_ids(
    messages: Iterable[ChatMessage], gates: Iterable[GateSnapshot], results: Iterable[ToolResult] = ()
) -> set[str]:
    """The ids earlier calls of the chain used: in the conversation kept, on every gate, and on
    the results carried (gates and results outlive the turns a continue-as-new drops; sealed
    results cannot be read here, which is why numbered ids have a form of their own)."""
    ids = {call.id for message in messages for call in message.tool_calls}
    ids.update(gate.tool_call.id for gate in gates if gate.tool_call is not None)
    ids.update(result.call_id for result in results)
    return ids


def unique_call_ids(message: ChatMessage, taken: set[str]) -> ChatMessage | None:
    """The reply with each call's id unique, or None if every id was already: an id that is
    empty, `taken`, or an earlier call's of the same reply gets the next fresh one."""
    used = set(taken)
    fresh = (FRESH_ID.format(n) for n in range(1, 10**6))
    calls, renamed = [], False
    for call in message.tool_calls:
        if not call.id or call.id in used:
            call = replace(call, id=next(i for i in fresh if i not in used))
            renamed = True
        used.add(call.id)
        calls.append(call)
    return replace(message, tool_calls=calls) if renamed else None

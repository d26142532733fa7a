"""Tool call ids the workflow can trust: unique across the run's chain.

The workflow finds a gated call's gate, and a call's result, by the call's id. The id comes from
the provider, and no OpenAI-compatible API promises it is unique: some servers number calls from
`call_0` in every reply, some send "", and a prompt-injected model can repeat one on purpose. A
repeated id would match an earlier call's gate (approved already), re-running that call and
keeping the new one from any reviewer. So each reply's repeated, shared or empty ids are replaced
before the reply is kept, and the provider is sent the new ids back. Pure and deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from agents.framework.types import ChatMessage, GateSnapshot

# Nine letters and digits, which every OpenAI-compatible API takes (`rid000001`).
FRESH_ID = "rid{:06d}"


def taken_ids(messages: Iterable[ChatMessage], gates: Iterable[GateSnapshot]) -> set[str]:
    """The ids earlier calls of the chain used: in the conversation kept, and on every gate (a
    gate outlives the turns pruning or a continue-as-new drops)."""
    ids = {call.id for message in messages for call in message.tool_calls}
    ids.update(gate.tool_call.id for gate in gates if gate.tool_call is not None)
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

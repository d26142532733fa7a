"""How the offline model talks to a customer: look the account up, then answer from it, raise a
ticket, or hand the conversation to a person. Driven by the tool results and a few words of the
customer's latest message."""

from __future__ import annotations

import json
from typing import Any

from agents.framework.offline_model import submitted_case
from agents.support.contract import ACCOUNT_HISTORY, RAISE_TICKET

TICKET_WORDS = ("broken", "not working", "complaint", "complain", "ticket", "fault")
HANDOFF_WORDS = ("human", "person", "representative", "someone", "agent")


def conversation_policy(messages: list[dict[str, Any]]) -> dict[str, Any]:
    case = submitted_case(messages)
    latest = next(i for i in range(len(messages) - 1, -1, -1) if messages[i]["role"] == "user")
    text = (messages[latest]["content"] or "").lower()
    results = _results_since(messages, latest)
    if any(word in text for word in HANDOFF_WORDS):
        return _answer("handoff", "The customer asked for a person.", "I'll pass you to a colleague.")
    account = results.get(ACCOUNT_HISTORY)
    if account is None:
        call = {"name": ACCOUNT_HISTORY, "arguments": {"customer_id": case["customer_id"]}}
        return {"tool_calls": [call]}
    if "error" in account or "name" not in account:
        return _answer("handoff", "No account history to answer from.", "I'll pass you to a colleague.")
    if any(word in text for word in TICKET_WORDS):
        ticket = results.get(RAISE_TICKET)
        if ticket is None:
            call = {"name": RAISE_TICKET, "arguments": {"summary": text[:200], "message_index": 0}}
            return {"tool_calls": [call]}
        return _answer(
            "reply",
            "A ticket was raised.",
            f"Sorry about that, {account['name']}. I have raised ticket {ticket.get('ticket', '?')}; "
            "the back office will contact you.",
        )
    if "payment" in text:
        paid = account["last_payment"]
        reply = f"Your last payment was {paid['amount']:.2f} to {paid['to']} on {paid['date']}."
        return _answer("reply", "The account history has the last payment.", reply)
    if "card" in text:
        reply = f"Your card is {account['card_status']}."
        return _answer("reply", "The account history has the card's status.", reply)
    return _answer("handoff", "The account history does not answer this.", "I'll pass you to a colleague.")


def _results_since(messages: list[dict[str, Any]], start: int) -> dict[str, dict[str, Any]]:
    """Each tool's result in this turn (after the customer's latest message), by tool name."""
    names = {
        call["id"]: call["function"]["name"]
        for m in messages[start:]
        if m["role"] == "assistant"
        for call in m.get("tool_calls") or []
    }
    found: dict[str, dict[str, Any]] = {}
    for message in messages[start:]:
        name = names.get(message.get("tool_call_id") or "")
        if message["role"] == "tool" and name:
            try:
                found[name] = json.loads(message["content"])
            except json.JSONDecodeError:
                found[name] = {"error": message["content"]}
    return found


def _answer(outcome: str, rationale: str, reply: str) -> dict[str, Any]:
    answer = {"outcome": outcome, "rationale": rationale, "risk_factors": [], "proposal": {"reply": reply}}
    return {"content": json.dumps(answer)}

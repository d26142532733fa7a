"""How the offline model answers: both lookups at once, then a reply from the policy found."""

from __future__ import annotations

import json
from typing import Any

from agents.framework.offline_model import submitted_case, tool_results


def inquiry_policy(messages: list[dict[str, Any]]) -> dict[str, Any]:
    case = submitted_case(messages)
    results = tool_results(messages)
    if not results:
        return {
            "tool_calls": [
                {"name": "customer_service.crm_lookup", "arguments": {"customer_id": case["customer_id"]}},
                {"name": "customer_service.policy_search", "arguments": {"topic": case["topic"]}},
            ]
        }
    customer = results.get("customer_service.crm_lookup", {})
    policy = results.get("customer_service.policy_search", {})
    if "name" not in customer or not policy.get("found"):
        answer: dict[str, Any] = {
            "outcome": "refer",
            "rationale": "The CRM or the policy library had no answer.",
            "risk_factors": [],
        }
        return {"content": json.dumps(answer)}
    reply = f"Dear {customer['name']}, thank you for asking about {case['topic']}. {policy['policy']}"
    answer = {
        "outcome": "reply",
        "rationale": f"The policy on {case['topic']} answers the question.",
        "risk_factors": [],
        "proposal": {"reply": reply},
    }
    return {"content": json.dumps(answer)}

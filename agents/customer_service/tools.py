"""The customer-service team's own activities: the CRM lookup and the policy search, served by
its own worker and task queue (`run_worker --domain customer_service`), and the send of the
reply a representative approved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio import activity

from agents.customer_service.data import CUSTOMERS, POLICIES
from agents.framework.tools import tool
from agents.framework.types import GateSnapshot


@dataclass
class CustomerArgs:
    customer_id: str


@dataclass
class TopicArgs:
    topic: str


@tool("customer_service.crm_lookup", "The customer's profile and products from the CRM.")
async def crm_lookup(args: CustomerArgs) -> dict[str, Any]:
    customer = CUSTOMERS.get(args.customer_id)
    if customer is None:
        raise ValueError(f"No customer {args.customer_id} in the CRM.")
    return {"customer_id": args.customer_id, **customer}


@tool("customer_service.policy_search", "The bank's policy on a topic, if it has one.")
async def policy_search(args: TopicArgs) -> dict[str, Any]:
    text = POLICIES.get(args.topic.strip().lower())
    return {"topic": args.topic, "found": text is not None, "policy": text or ""}


@activity.defn(name="customer_service.send_reply")
async def send_reply(gate: GateSnapshot) -> dict[str, Any]:
    reply = gate.edits.get("reply") or gate.recommendation.proposal.get("reply", "")
    return {"sent_to": gate.case["customer_id"], "reply": reply, "approved_by": gate.decided_by}


@activity.defn(name="customer_service.hold_reply")
async def hold_reply(gate: GateSnapshot) -> dict[str, Any]:
    return {"held": gate.case["customer_id"], "reason": gate.reason}

"""An agent from outside the project's packages: a claims-triage team's own folder, with its own
reviewer role (`claims_handler`), prompt, tool, gate, downstream actions and offline behaviour.
Nothing outside this folder names it: the portal learns its role and label from `roles`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio import activity

from agents.framework.offline_model import submitted_case, tool_results
from agents.framework.prompts import register_prompts
from agents.framework.registry import AgentSpec, register
from agents.framework.roles import ReviewerRole
from agents.framework.tools import tool
from agents.framework.types import GatePolicy, GateSnapshot

register_prompts(Path(__file__).parent / "prompts")
HANDLER = "claims_handler"
COVER_LIMIT = 10_000


@dataclass
class PolicyCheck:
    policy_number: str
    amount: float


@tool("claims.policy_check", "Whether the policy is in force and covers the claimed amount.")
async def policy_check(args: PolicyCheck) -> dict[str, Any]:
    in_force = not args.policy_number.endswith("X")
    return {
        "in_force": in_force,
        "cover_limit": COVER_LIMIT,
        "covered": in_force and args.amount <= COVER_LIMIT,
    }


@activity.defn(name="claims.pay")
async def pay(gate: GateSnapshot) -> dict[str, Any]:
    return {"action": "paid", "approved_by": gate.decided_by, "amount": gate.case.get("amount")}


@activity.defn(name="claims.decline")
async def decline(gate: GateSnapshot) -> dict[str, Any]:
    return {"action": "declined", "rejected_by": gate.decided_by}


def triage_offline(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Check the policy once, then recommend paying what it covers."""
    results = list(tool_results(messages).values())
    if not results:
        claim = submitted_case(messages)
        arguments = {"policy_number": claim["policy_number"], "amount": claim["amount"]}
        return {"tool_calls": [{"name": "claims.policy_check", "arguments": arguments}]}
    covered = bool(results[-1].get("covered"))
    answer = {
        "outcome": "approve" if covered else "refer",
        "rationale": "The policy is in force and covers the amount." if covered else "Not clearly covered.",
        "risk_factors": [] if covered else ["cover"],
    }
    return {"content": json.dumps(answer)}


CLAIMS_AGENT = register(
    AgentSpec(
        name="claims",
        title="Claims triage",
        prompt_id="claims.triage",
        model="gpt-4o-mini",
        tools=(policy_check,),
        gate=GatePolicy(kind="claim_payment", role=HANDLER, sla_seconds=3600),
        on_approve="claims.pay",
        on_reject="claims.decline",
        activities=(pay, decline),
        offline_policy=triage_offline,
        roles=(ReviewerRole(HANDLER, "Claims handler"),),
    )
)

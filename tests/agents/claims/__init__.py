"""An agent from outside the project's packages: a claims-triage team's own folder, with its own
reviewer role (`claims_handler`), prompt, tool, gate, downstream actions and offline behaviour.
Nothing outside this folder names it: the portal learns its role, intake page, inbox fields,
evidence labels and flags from the spec.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio import activity

from agents.framework.intake import Intake, IntakeField, RunRequest
from agents.framework.offline_model import submitted_case, tool_results
from agents.framework.presentation import CaseField, Shown
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


def claim_run(values: Mapping[str, Any]) -> RunRequest:
    subject = f"Claim on policy {values['policy_number']}: {values['amount']:,.0f}"
    return RunRequest(subject=subject, case=dict(values))


def cover_flags(
    case: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]], made_by: Mapping[str, str]
) -> list[str]:
    limit = results.get("claims.policy_check", {}).get("cover_limit")
    if isinstance(limit, int | float) and case.get("amount", 0) > 0.8 * limit:
        return [f"The claim is over 80 % of the policy's cover ({limit:,.0f})."]
    return []


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
        intake=Intake(
            label="New claim",
            roles=(HANDLER,),
            fields=(
                IntakeField(
                    "policy_number",
                    "Policy number",
                    max_length=12,
                    pattern=r"POL-\d{4}X?",
                    pattern_message="A policy number looks like POL-1001.",
                    uppercase=True,
                ),
                IntakeField("amount", "Amount claimed", "decimal", minimum=1, maximum=1_000_000),
                IntakeField("claimant", "Claimant", max_length=120),
            ),
            to_run=claim_run,
            submitted="Claim submitted; the agent is checking the policy.",
            workflow_prefix="claim-",
        ),
        case_fields=(
            CaseField("policy_number", "Policy", column=True, searchable=True),
            CaseField("amount", "Amount claimed", "currency", amount=True),
            CaseField("claimant", "Claimant", column=True, searchable=True),
        ),
        evidence={"cover_limit": Shown("Cover limit", "currency"), "in_force": Shown("Policy in force")},
        flags=cover_flags,
    )
)

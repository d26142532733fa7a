"""The support agent's spec: its tools, offline model, handoff gate and its own workflow."""

from __future__ import annotations

from pathlib import Path

from agents.framework.ai_act import AiActClass
from agents.framework.presentation import CaseField, Workspace
from agents.framework.prompts import register_prompts
from agents.framework.registry import AgentSpec, register
from agents.framework.roles import ReviewerRole
from agents.framework.types import GatePolicy
from agents.support import tools
from agents.support.contract import AGENT
from agents.support.handoff import HANDOFF_KIND, conversation_path
from agents.support.offline import conversation_policy
from agents.support.rep_actions import SUPPORT_REP
from agents.support.workflow import SupportConversationWorkflow

register_prompts(Path(__file__).parent / "prompts")

SUPPORT_AGENT = register(
    AgentSpec(
        name=AGENT,
        title="Customer support conversations",
        prompt_id="support.conversation",
        model="gpt-4o-mini",
        tools=(tools.account_history, tools.raise_ticket),
        # The handoff: a rep takes the conversation over (its role is the customer-service team's).
        gate=GatePolicy(
            kind=HANDOFF_KIND,
            role=SUPPORT_REP,
            sla_seconds=15 * 60,
            priority="high",
            expiry_reason="No representative took the conversation over in time.",
        ),
        activities=(),
        offline_policy=conversation_policy,
        outcomes=("reply", "handoff"),
        ai_act=AiActClass(
            high_risk=False, basis="Not in Annex III: answers customers' questions; a person takes over"
        ),
        case_fields=(
            CaseField("customer_id", "Customer", column=True, searchable=True),
            CaseField("conversation", "Conversation"),
        ),
        workflows=(SupportConversationWorkflow,),
        # The customer-service team's role (agents/customer_service declares it too): declared
        # here as well, so this agent stands on its own in AGENT_PACKAGES.
        roles=(ReviewerRole(SUPPORT_REP, "Support representative", demo_user="support"),),
        # A rep answers a handoff by taking the conversation over, not with Approve or Reject.
        workspaces={
            HANDOFF_KIND: Workspace("Take over the conversation", conversation_path("{workflow_id}"))
        },
    )
)

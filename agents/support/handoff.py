"""The handoff gate: how a conversation the agent cannot resolve appears in the support reps'
inbox, how a rep's reply and close change it, who may still act on it, and when nobody took it in
time. Pure functions with `now` passed in."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from agents.framework.contract import APPROVED, PENDING, PORTAL
from agents.framework.types import ADMIN_ROLE, AgentRunSpec, GatePolicy, GateSnapshot, Recommendation
from agents.support.contract import AGENT, Handoff, RepAction

HANDOFF_KIND = "support_handoff"


def conversation_path(workflow_id: str) -> str:
    return f"/conversations/{workflow_id}/"


def handoff_policy(spec: AgentRunSpec) -> GatePolicy:
    """The handoff gate's policy as the conversation pinned it."""
    return spec.gate or GatePolicy(kind=HANDOFF_KIND, role="support_rep", sla_seconds=3600)


def handoff_gate(
    *, workflow_id: str, spec: AgentRunSpec, customer_id: str, reason: str, offline: bool, now: datetime
) -> GateSnapshot:
    """The gate a support rep picks the conversation up from (one per conversation)."""
    policy = handoff_policy(spec)
    path = conversation_path(workflow_id)
    return GateSnapshot(
        gate_id=f"{workflow_id}--g1",
        workflow_id=workflow_id,
        agent=AGENT,
        kind=policy.kind,
        subject=f"Customer {customer_id} is waiting for a person",
        case={"customer_id": customer_id, "conversation": path},
        submitted_by="",
        recommendation=Recommendation(outcome="handoff", rationale=reason, proposal={"conversation": path}),
        tool_results=[],
        model=spec.model,
        offline_model=offline,
        role=policy.role,
        sla_seconds=policy.sla_seconds,
        opened_at=now,
        deadline=now + timedelta(seconds=policy.sla_seconds),
        needs_attention=f"A customer is waiting: take the conversation over at {path}",
        prompt=spec.prompt,
        supervisors=list(policy.supervisors),
        priority=policy.priority,
    )


def open_refusal(state: Handoff | None, *, closed: bool) -> str | None:
    """Why a rep's action finds no conversation to act on: not handed off, or closed."""
    if closed or state is None or state.gate is None or state.closed:
        return "Only a conversation handed to a representative, and still open, takes a rep's action."
    return None


def holder_refusal(gate: GateSnapshot, action: RepAction) -> str | None:
    """Why `action` may not act on a handoff another rep holds (an admin may); `action`'s rep and
    roles are the ones the portal signed."""
    if not gate.assignee_id or gate.assignee_id == action.rep_id or ADMIN_ROLE in action.rep_roles:
        return None
    return f"{gate.assignee} holds this conversation: only they, or an admin, may reply or close it."


def claimed(gate: GateSnapshot, action: RepAction, *, admin_takes: bool = False) -> GateSnapshot:
    """The gate held by the first rep who replied. An admin's reply never takes it: it would keep
    every rep out, and the untaken handoff from expiring (`admin_takes`: runs recorded before)."""
    if gate.assignee_id or (ADMIN_ROLE in action.rep_roles and not admin_takes):
        return gate
    return replace(gate, assignee=action.rep, assignee_id=action.rep_id, version=gate.version + 1)


def release_refusal(gate: GateSnapshot, action: RepAction) -> str | None:
    """Why `action` may not release the handoff: only an admin or a supervisor of its role frees a
    conversation from its holder, and only one somebody holds."""
    if ADMIN_ROLE not in action.rep_roles and not set(gate.supervisors) & set(action.rep_roles):
        return "Only an admin or a supervisor of the support representatives may release a conversation."
    if not gate.assignee_id:
        return "Nobody holds this conversation: there is nothing to release."
    return None


def released(gate: GateSnapshot, now: datetime) -> GateSnapshot:
    """The gate free for any rep again, with a fresh SLA: untaken, it expires that long after."""
    deadline = now + timedelta(seconds=gate.sla_seconds)
    return replace(gate, assignee="", assignee_id="", deadline=deadline, version=gate.version + 1)


def closed(gate: GateSnapshot, action: RepAction, now: datetime) -> GateSnapshot:
    """The gate decided: the rep closed the conversation, with their closing note as the reason."""
    return replace(
        gate,
        status=APPROVED,
        decided_by=action.rep,
        decided_by_id=action.rep_id,
        decided_at=now,
        decided_via=PORTAL,
        decision_id=action.action_id,
        reason=closing_reason(action),
        version=gate.version + 1,
    )


def closing_reason(action: RepAction) -> str:
    """The reason a closed handoff's gate keeps: the rep's closing note."""
    return f"Conversation closed: {action.text}"


def expiry_due(state: Handoff | None) -> datetime | None:
    """When a handoff no rep has taken expires (its gate's deadline); None once a rep has replied,
    the gate is decided, or there is no handoff."""
    if state is None or state.closed or state.gate is None:
        return None
    gate = state.gate
    return gate.deadline if gate.status == PENDING and not gate.assignee_id else None


def wait_time(idle: timedelta, due: datetime | None, now: datetime) -> timedelta:
    """How long the conversation waits before it looks again: until the silence limit, or the
    untaken handoff's deadline if that comes first (at least a moment, if it has passed)."""
    if due is None:
        return idle
    return min(idle, max(due - now, timedelta(milliseconds=1)))


def expiry_ticket_summary(reason: str) -> str:
    """What the back office reads on the ticket a handoff nobody took raises."""
    return f"No representative took over the chat in time; the customer needs contacting. {reason}"[:500]


def expiry_notice(ticket: str | None) -> str:
    """What the customer reads when no representative took the conversation over in time."""
    if ticket:
        follow_up = f"We have raised ticket {ticket} and the bank will contact you about it."
    else:
        follow_up = "We could not raise a ticket just now: please call us, and we will help you there."
    return f"No representative was free to take over this chat, sorry. {follow_up} This chat is now closed."

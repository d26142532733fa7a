"""The EU AI Act record of one decision: the AI system, what it was given and recommended, who
decided and how (deployer record keeping, Art. 26; the explanation an applicant may ask for, Art. 86).

Read from the gate projection, which keeps every gate after Temporal deletes its run; the archive
adds the run's place in its hash chain once archived. Who decided, how and why are told as the
run's trail holds them, checked (reviewer_portal.audit.decision_check): an edit of the projection
is shown as such, never as the truth. The same dict is the readable page and the JSON export, so
the two can never tell different stories.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import reverse

from agents.framework.ai_act import UNDECLARED
from agents.framework.contract import APPROVE, REJECT
from agents.framework.registry import AGENTS
from reviewer_portal.accounts.roles import REVIEWER_ROLES
from reviewer_portal.archive.hashing import canonical
from reviewer_portal.archive.models import ArchiveRecord
from reviewer_portal.audit.decision_check import NOT_CHECKED, DecisionCheck
from reviewer_portal.audit.prompt_selectors import SYSTEM_DECIDER
from reviewer_portal.dashboard.verdicts import verdict_of
from reviewer_portal.inbox.models import Gate

RECORD_FORMAT = "eu-ai-act-decision-record/1"
PORTAL_NAME = "Reviewer portal"
DECIDED = (Gate.Status.APPROVED, Gate.Status.REJECTED)
DIGEST_METHOD = "sha256 of the case as canonical JSON (sorted keys, compact separators, ASCII)"

# How the AI's outcome reads in a sentence ("The AI recommended ...").
OUTCOME_WORDS = {
    "approve": "approving",
    "decline": "declining",
    "advise": "giving the advice it drafted",
    "no_action": "taking no action",
}


class NotDecided(Exception):
    """The gate is still open (or sent back to the agent): there is no decision to record yet."""

    def __init__(self, gate: Gate) -> None:
        super().__init__(f"Gate {gate.gate_id} is not decided yet (status: {gate.get_status_display()}).")
        self.gate = gate


@dataclass(frozen=True)
class PlainWords:
    """The record told in sentences, for a team explaining the decision to the applicant."""

    recommended: str
    decided: str
    reason: str
    followed: str
    edited: str
    classification: str


def case_digest(case: dict[str, Any]) -> str:
    """The sha256 of the case inputs as canonical JSON, so anyone can recompute it from the case."""
    return hashlib.sha256(canonical(case)).hexdigest()


def decision_record(gate: Gate, check: DecisionCheck | None = None) -> dict[str, Any]:
    """The AI Act record of a decided gate, as plain JSON-ready data (datetimes as datetimes):
    who decided and why as `check` found them in the run's trail, where it could read them."""
    check = check or DecisionCheck(NOT_CHECKED, "Not checked against the run's trail.")
    gate = as_the_trail_tells(gate, check)  # a row edited back to "pending" still has its record
    if gate.status not in DECIDED:
        raise NotDecided(gate)
    by_policy = gate.decided_by == SYSTEM_DECIDER
    spec = AGENTS.get(gate.agent)
    return {
        "format": RECORD_FORMAT,
        "gate_id": gate.gate_id,
        "subject": gate.subject,
        "system": {
            "portal": PORTAL_NAME,
            "agent": gate.agent,
            "agent_title": spec.title if spec else gate.agent,
            "gate_kind": gate.kind,
        },
        "provider": _provider(gate),
        "model": gate.model,
        "prompt": _prompt(gate),
        "inputs": {"case": gate.case, "sha256": case_digest(gate.case), "digest_method": DIGEST_METHOD},
        "evidence": gate.tool_results,
        "ai_recommendation": {
            "outcome": gate.recommendation,
            "rationale": gate.rationale,
            "risk_factors": gate.risk_factors,
            "proposal": gate.proposal,
            "tool_call": gate.tool_call,
            # Earlier recommendations reviewers sent back, with their instructions (oldest first).
            "revisions": gate.revisions,
        },
        "decision": {
            "status": gate.status,
            "by": "sla_policy" if by_policy else "person",
            "reason": gate.reason,
        },
        "human_decision": None if by_policy else _human_decision(gate),
        "human_override": _override(gate, by_policy),
        "ai_act": _classification(gate.agent),
        "times": {"opened_at": gate.opened_at, "deadline": gate.deadline, "decided_at": gate.decided_at},
        "escalation_level": gate.escalation_level,
        "run": {
            "workflow_id": gate.workflow_id,
            "audit_trail": reverse("audit:run", args=[gate.workflow_id]),
            "decision_id": gate.decision_id,
        },
        "archive": _archive(gate.workflow_id),
        "trail_check": check.as_json(),
    }


def as_the_trail_tells(gate: Gate, check: DecisionCheck) -> Gate:
    """The gate with its decision as the run's trail holds it (an unsaved copy)."""
    if not check.trail:
        return gate
    told = copy.copy(gate)
    for name, value in check.trail.items():
        setattr(told, name, value)
    if any(d.name == "edits" for d in check.differences):
        told.edit_diff = ""  # worked out from the projection's edits, which are not the trail's
    if told.decided_by == SYSTEM_DECIDER:
        told.decided_by_id, told.edits, told.edit_diff, told.decided_via = "", {}, "", ""
    return told


def plain_words(record: dict[str, Any]) -> PlainWords:
    """Sentences an applicant-facing team can read out: what the AI said, who decided, and why."""
    ai, human = record["ai_recommendation"], record["human_decision"]
    status = record["decision"]["status"]
    if ai["tool_call"]:
        recommended = f"The AI proposed the action {ai['outcome']} and asked a person to approve it first."
    elif ai["outcome"] == "refer":
        recommended = "The AI referred the case to a person without recommending an outcome."
    else:
        recommended = f"The AI recommended {OUTCOME_WORDS.get(ai['outcome'], ai['outcome'])}."
    if human is None:
        decided = f"No one decided within the time allowed, so the SLA policy {status} it automatically."
        reason = f"Reason recorded: {record['decision']['reason'] or 'none'}"
    else:
        via = " (recorded by an admin with the operator command)" if human["via"] == "operator" else ""
        decided = f"{human['reviewer']} ({human['role_label']}) {status} it{via}."
        reason = f"Their reason: {human['reason']}" if human["reason"] else "They gave no reason."
    edited = "They changed the AI's proposal before approving it." if human and human["edits"] else ""
    return PlainWords(
        recommended=recommended,
        decided=decided,
        reason=reason,
        followed=record["human_override"]["assessment"],
        edited=edited,
        classification=record["ai_act"]["statement"],
    )


def _provider(gate: Gate) -> str:
    if gate.offline_model:
        return "offline model"
    host = urlsplit(settings.OPENAI_BASE_URL).hostname if settings.OPENAI_BASE_URL else None
    return f"OpenAI-compatible API ({host})" if host else "OpenAI-compatible API"


def _prompt(gate: Gate) -> dict[str, Any]:
    """The prompt the run pinned, as the workflow reported it (the columns for rows without it)."""
    pinned = (gate.snapshot or {}).get("prompt") or {}
    return {
        "id": pinned.get("id", gate.prompt_id),
        "version": pinned.get("version", gate.prompt_version),
        "sha256": pinned.get("sha256", gate.prompt_sha256),
    }


def _human_decision(gate: Gate) -> dict[str, Any]:
    return {
        "decision": gate.status,
        "reviewer": gate.decided_by,
        "reviewer_id": gate.decided_by_id,
        "role": gate.role,
        "role_label": REVIEWER_ROLES.get(gate.role, gate.role),
        "reason": gate.reason,
        "edits": gate.edits,
        "edit_diff": gate.edit_diff,
        "via": gate.decided_via,
    }


def _override(gate: Gate, by_policy: bool) -> dict[str, Any]:
    """Whether the person decided against the AI's verdict; None when there was no verdict or no person."""
    verdict = {APPROVE: "approve", REJECT: "decline"}.get(verdict_of(gate.agent, gate.recommendation) or "")
    if by_policy:
        overrode, assessment = None, "No person decided, so no one followed or overrode the AI."
    elif verdict is None:
        overrode = None
        assessment = (
            "The AI gave no approve or decline verdict, so the reviewer neither followed nor overrode it."
        )
    else:
        overrode = (verdict == "approve") != (gate.status == Gate.Status.APPROVED)
        assessment = (
            f"The reviewer overrode the AI: it recommended {OUTCOME_WORDS[verdict]}, they {gate.status} it."
            if overrode
            else "The reviewer followed the AI's recommendation."
        )
    return {"ai_verdict": verdict, "overrode": overrode, "assessment": assessment}


def _classification(agent: str) -> dict[str, Any]:
    """The agent team's declaration; high_risk None when it made none (never a silent "no")."""
    spec = AGENTS.get(agent)
    if spec is None:
        statement = "The agent is not registered on this portal: its EU AI Act classification is unknown."
        return {"high_risk": None, "basis": "", "statement": statement}
    declared = spec.ai_act
    if declared == UNDECLARED:
        statement = "The agent's team has not declared its EU AI Act classification."
        return {"high_risk": None, "basis": declared.basis, "statement": statement}
    kind = "a high-risk" if declared.high_risk else "not a high-risk"
    statement = f"Under the EU AI Act this is {kind} AI system. Basis: {declared.basis}."
    return {"high_risk": declared.high_risk, "basis": declared.basis, "statement": statement}


def _archive(workflow_id: str) -> dict[str, Any] | None:
    """Where the run sits in the archive's hash chain, once archived (the latest record of it)."""
    record = (
        ArchiveRecord.objects.filter(kind=ArchiveRecord.Kind.RUN, workflow_id=workflow_id)
        .only("namespace", "seq", "record_hash")
        .order_by("-archived_at", "-seq")
        .first()
    )
    if record is None:
        return None
    return {"namespace": record.namespace, "seq": record.seq, "record_hash": record.record_hash}

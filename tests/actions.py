"""Reviewer actions sent straight to a run through the tests' Temporal client, signed with the
tests' portal key exactly as the portal signs them (reviewer_portal.trust.signer).

Test users have stable ids derived from their names (`person_id`), so a run's submitter id and a
reviewer's id match whichever is created first.
"""

from __future__ import annotations

import contextlib
import uuid
import zlib
from datetime import datetime
from typing import Any

from temporalio.client import WorkflowUpdateFailedError

from agents.framework.contract import ANNOTATE, ASSIGN, DECIDE, PORTAL
from agents.framework.reviewer_actions import (
    ActionInput,
    ActionResult,
    AnnotateInput,
    AssignInput,
    DecideInput,
)
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.trust.keys import SigningKey
from reviewer_portal.trust.signer import sign_action

OFFICER = ("credit_officer",)
UPDATES = {DECIDE: AgentWorkflow.decide, ANNOTATE: AgentWorkflow.annotate, ASSIGN: AgentWorkflow.assign}


def person_id(username: str) -> str:
    """The user id a test user of this name has (tests.conftest.make_user)."""
    return str(100_000 + zlib.crc32(username.encode()) % 900_000) if username else ""


def send(
    temporal: Any,
    handle: Any,
    action: str,
    update: ActionInput,
    *,
    update_id: str | None = None,
    signed: bool = True,
    key: SigningKey | None = None,
    now: datetime | None = None,
    workflow_id: str | None = None,
) -> ActionResult:
    """Sign `update` (unless `signed` is False) for this run and Update id, and send it."""
    update_id = update_id or f"{action}-{uuid.uuid4().hex[:12]}"
    if signed:
        update = sign_action(
            action, update, workflow_id=workflow_id or handle.id, update_id=update_id, key=key, now=now
        )
    return temporal.run(handle.execute_update(UPDATES[action], update, id=update_id))


def decide_input(
    gate_id: str,
    decision: str = "approve",
    reason: str = "",
    reviewer: str = "officer",
    roles: tuple[str, ...] | list[str] = OFFICER,
    *,
    edits: dict[str, str] | None = None,
    origin: str = PORTAL,
    revision: int = 0,
    content: str = "",
) -> DecideInput:
    return DecideInput(
        gate_id,
        decision,
        reason,
        reviewer,
        list(roles),
        edits=edits or {},
        reviewer_id=person_id(reviewer),
        action_id=f"decide:{gate_id}:{uuid.uuid4()}",
        origin=origin,
        revision=revision,
        content=content,
    )


def decide(temporal: Any, handle: Any, gate_id: str, decision: str = "approve", reason: str = "",
           reviewer: str = "officer", roles: tuple[str, ...] | list[str] = OFFICER, *,
           edits: dict[str, str] | None = None, origin: str = PORTAL, revision: int | None = None,
           claim_first: bool = True, content: str = "", **send_options: Any) -> ActionResult:  # fmt: skip
    """Decide on the recommendation the gate shows now (or on `revision`, as a stale page would;
    naming `content`, the digest of the gate a page showed, as the portal does).

    On a gate whose policy lets only its holder decide (loans), the reviewer claims it first, as
    they do on the gate page, unless `claim_first` is False; a refused claim (another's gate, the
    submitter's) is left for the decision's own refusal to explain."""
    gates = temporal.run(handle.query(AgentWorkflow.all_gates))
    gate = next((g for g in gates if g.gate_id == gate_id), None)
    if revision is None:
        revision = len(gate.revisions) if gate is not None else 0
    if claim_first and origin == PORTAL and gate is not None and gate.claim_required and not gate.assignee:
        with contextlib.suppress(WorkflowUpdateFailedError):
            assign(temporal, handle, gate_id, reviewer, roles, reviewer, roles)
    update = decide_input(
        gate_id,
        decision,
        reason,
        reviewer,
        roles,
        edits=edits,
        origin=origin,
        revision=revision,
        content=content,
    )
    return send(temporal, handle, DECIDE, update, **send_options)


def annotate(
    temporal: Any,
    handle: Any,
    gate_id: str,
    text: str,
    reviewer: str = "officer",
    roles: tuple[str, ...] | list[str] = OFFICER,
    **send_options: Any,
) -> ActionResult:
    note = AnnotateInput(
        gate_id,
        text,
        reviewer,
        list(roles),
        reviewer_id=person_id(reviewer),
        action_id=f"annotate:{uuid.uuid4()}",
    )
    return send(temporal, handle, ANNOTATE, note, **send_options)


def assign(
    temporal: Any,
    handle: Any,
    gate_id: str,
    reviewer: str,
    roles: tuple[str, ...] | list[str],
    assignee: str,
    assignee_roles: tuple[str, ...] | list[str] = OFFICER,
    **send_options: Any,
) -> ActionResult:
    change = AssignInput(
        gate_id,
        reviewer,
        list(roles),
        assignee,
        list(assignee_roles) if assignee else [],
        reviewer_id=person_id(reviewer),
        assignee_id=person_id(assignee),
        action_id=f"assign:{uuid.uuid4()}",
    )
    return send(temporal, handle, ASSIGN, change, **send_options)

"""What a reviewer sends a run: the signed `decide`, `annotate` and `assign` Updates.

Temporal's Updates carry no caller identity, so each input names its reviewer (immutable user id,
username, roles) and carries the portal's signature over all of it; the workflow verifies it
against keys pinned in the run's input (agents.framework.signing). Plain data, no Django.
Fields added later always have defaults, so histories recorded before them still replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.framework.contract import PORTAL
from agents.framework.gate_changes import GatePatch


@dataclass
class KeyEndorsement:
    """A newer portal key signed by an older one, so runs that pinned the older key trust it."""

    key_id: str
    public_key: str
    endorsed_by: str
    signature: str


@dataclass
class Signature:
    key_id: str
    # ISO 8601 in UTC, exactly as signed; the workflow refuses stale or future-dated signatures.
    signed_at: str
    # base64 Ed25519 signature of the action's canonical claims (agents.framework.signing).
    value: str
    # The chain from a key the run pinned to `key_id`, when the portal's key rolled since.
    endorsements: list[KeyEndorsement] = field(default_factory=list)


@dataclass
class DecideInput:
    gate_id: str
    decision: str  # "approve" | "reject" | "request_changes" (reason holds the instructions)
    reason: str
    reviewer: str
    reviewer_roles: list[str]
    # Approve with changes: new values for the gate's editable fields.
    edits: dict[str, Any] = field(default_factory=dict)
    # The reviewer's immutable user id: four eyes and claims compare it, never the username.
    reviewer_id: str = ""
    # The portal's id for this action, the same however often it is delivered: applied once.
    action_id: str = ""
    # "portal", or "operator" for the admin's override command.
    origin: str = PORTAL
    signature: Signature | None = None
    # Which recommendation the reviewer decided on: how many revisions the gate had then. The run
    # refuses a decision that would land on a recommendation the reviewer never saw.
    revision: int = -1
    # The digest of what the reviewer's page showed of the gate (agents.framework.gate_content):
    # the run refuses the decision if its gate digests otherwise (a run set back to before the
    # model's step holds another recommendation at the same revision). "" from portals before it:
    # the revision alone is checked.
    content: str = ""


@dataclass
class AnnotateInput:
    gate_id: str
    text: str
    reviewer: str
    reviewer_roles: list[str]
    reviewer_id: str = ""
    action_id: str = ""
    origin: str = PORTAL
    signature: Signature | None = None


@dataclass
class AssignInput:
    """Claim (assignee = reviewer), unclaim (assignee = ""), or assign to a colleague."""

    gate_id: str
    reviewer: str
    reviewer_roles: list[str]
    assignee: str
    # The assignee's roles as the portal knows them (a workflow cannot look users up); signed.
    assignee_roles: list[str] = field(default_factory=list)
    reviewer_id: str = ""
    assignee_id: str = ""
    action_id: str = ""
    origin: str = PORTAL
    signature: Signature | None = None
    # Why (an operator's reassignment must say so).
    reason: str = ""


ActionInput = DecideInput | AnnotateInput | AssignInput


@dataclass
class ActionResult:
    """What an accepted action changed: the gate's new version and the fields that changed."""

    change: GatePatch | None = None

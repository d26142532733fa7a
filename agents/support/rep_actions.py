"""Whether a representative's action can be trusted: pure functions with `now` passed in.

Temporal Updates carry no caller identity, so a rep's reply names the rep and carries the portal's
Ed25519 signature over it, checked against the keys the conversation pinned at its start. The
signed bytes have their own prefix, so a signature over a gate decision never verifies here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from agents.framework.input_rules import (
    MAX_ID_LENGTH,
    MAX_USER_ID_LENGTH,
    MAX_USERNAME_LENGTH,
    roles_refusal,
    signature_shape_refusal,
    text_refusal,
)
from agents.framework.signing import age_refusal, signed_by_trusted_key
from agents.framework.types import ADMIN_ROLE, VerifyingKey
from agents.support.contract import MAX_MESSAGE_LENGTH, REP_RELEASE, RepAction

REP_ACTION_PREFIX = b"reviewer-portal/support-rep-action/v1\n"
SUPPORT_REP = "support_rep"  # the customer-service team's role (agents.customer_service)
ACTING_ROLES = frozenset({SUPPORT_REP, ADMIN_ROLE})


def rep_action_message(action: str, update: RepAction, *, workflow_id: str, update_id: str) -> bytes:
    """The bytes the portal signs for `update` sent as Update `update_id` to `workflow_id`."""
    signature = update.signature
    claims: dict[str, Any] = {
        "action": action,
        "workflow_id": workflow_id,
        "update_id": update_id,
        "action_id": update.action_id,
        "text": update.text,
        "rep": update.rep,
        "rep_id": update.rep_id,
        "roles": list(update.rep_roles),
        "key_id": signature.key_id if signature else "",
        "signed_at": signature.signed_at if signature else "",
    }
    canonical = json.dumps(claims, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return REP_ACTION_PREFIX + canonical.encode("ascii")


def message_refusal(text: object) -> str | None:
    """Why a message's text is refused: not text, empty, too long, control or invisible characters."""
    refusal = text_refusal("message", text, max_length=MAX_MESSAGE_LENGTH)
    if refusal is None and isinstance(text, str) and not text.strip():
        return "The message is empty."
    return refusal


def rep_action_refusal(
    action: str,
    update: RepAction,
    *,
    pinned: Sequence[VerifyingKey],
    workflow_id: str,
    update_id: str,
    now: datetime,
) -> str | None:
    """Why `update` is not a representative's action vouched for by the portal; None if it is."""
    signature = update.signature
    if signature is None:
        return "This action is not signed by the portal: representatives reply through the portal."
    refusal = (
        message_refusal(update.text)
        or text_refusal("rep", update.rep, max_length=MAX_USERNAME_LENGTH, multiline=False)
        or text_refusal("rep id", update.rep_id, max_length=MAX_USER_ID_LENGTH, multiline=False)
        or text_refusal("action id", update.action_id, max_length=MAX_ID_LENGTH, multiline=False)
        or roles_refusal("rep_roles", update.rep_roles)
        or signature_shape_refusal(signature)
    )
    if refusal:
        return refusal
    if not update.rep.strip() or not update.rep_id or not update.action_id:
        return "The action does not name its representative, their user id and its own id."
    invalid = signed_by_trusted_key(
        rep_action_message(action, update, workflow_id=workflow_id, update_id=update_id),
        key_id=signature.key_id,
        value=signature.value,
        pinned=pinned,
        endorsements=signature.endorsements,
    )
    if invalid:
        return f"This action cannot be trusted: {invalid}."
    # Who may release is the handoff's rule (handoff.release_refusal): a supervisor need not reply.
    if action != REP_RELEASE and not ACTING_ROLES & set(update.rep_roles):
        return "Only a support representative or an admin may reply to a customer."
    return age_refusal(signature, now)

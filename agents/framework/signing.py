"""Verifying reviewer actions: the portal signs every decide, annotate and assign (Ed25519); the
workflow's validators check the signature against the keys pinned in the run's input before
anything enters history. Pure functions with `now` passed in, so they run the same in a
validator, in a test and in an offline verifier of an exported history.

What is signed is an explicit list of claims per action (`action_claims`), serialised as
canonical JSON after a domain-separation prefix, so a signature for one purpose never verifies
for another.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agents.framework.reviewer_actions import (
    ActionInput,
    AnnotateInput,
    AssignInput,
    DecideInput,
    KeyEndorsement,
    Signature,
)
from agents.framework.types import VerifyingKey

ACTION_PREFIX = b"reviewer-portal/action/v1\n"
ENDORSEMENT_PREFIX = b"reviewer-portal/key-endorsement/v1\n"
# A signed action is good this long after it was signed: long enough for a slow round trip,
# short enough that an Update still queued in Temporal for a stopped worker goes stale, so a
# reviewer can withdraw a decision that could not be delivered (reviewer_portal.inbox.delivery).
MAX_AGE = timedelta(minutes=2)
# How far the portal's clock may run ahead of the workflow's.
MAX_SKEW = timedelta(seconds=30)


def action_claims(action: str, update: ActionInput, *, workflow_id: str, update_id: str) -> dict[str, Any]:
    """Everything a signature vouches for: which run, gate and Update, who, and what they did."""
    signature = update.signature
    claims: dict[str, Any] = {
        "action": action,
        "workflow_id": workflow_id,
        "update_id": update_id,
        "gate_id": update.gate_id,
        "action_id": update.action_id,
        "reviewer_id": update.reviewer_id,
        "reviewer": update.reviewer,
        "roles": list(update.reviewer_roles),
        "origin": update.origin,
        "key_id": signature.key_id if signature else "",
        "signed_at": signature.signed_at if signature else "",
    }
    if isinstance(update, DecideInput):
        claims |= {
            "decision": update.decision,
            "reason": update.reason,
            "edits": dict(update.edits),
            "revision": update.revision,
        }
        if update.content:  # signed since it exists; an action without it signs as before
            claims["content"] = update.content
    elif isinstance(update, AnnotateInput):
        claims |= {"text": update.text}
    elif isinstance(update, AssignInput):
        claims |= {
            "assignee_id": update.assignee_id,
            "assignee": update.assignee,
            "assignee_roles": list(update.assignee_roles),
            "reason": update.reason,
        }
    return claims


def action_message(action: str, update: ActionInput, *, workflow_id: str, update_id: str) -> bytes:
    """The bytes the portal signs for `update` sent as Update `update_id` to `workflow_id`."""
    claims = action_claims(action, update, workflow_id=workflow_id, update_id=update_id)
    return ACTION_PREFIX + _canonical(claims)


def endorsement_message(key_id: str, public_key: str) -> bytes:
    return ENDORSEMENT_PREFIX + _canonical({"key_id": key_id, "public_key": public_key})


def unsigned_refusal(update: ActionInput) -> str | None:
    """The first question about any action: does it carry a signature at all?"""
    if update.signature is None:
        return "This action is not signed by the portal: reviewer actions come through the portal."
    return None


def signature_refusal(
    action: str,
    update: ActionInput,
    *,
    pinned: Sequence[VerifyingKey],
    workflow_id: str,
    update_id: str,
    now: datetime,
) -> str | None:
    """Why `update` cannot be trusted as the portal's; None if its signature holds.

    `update` must already have passed agents.framework.input_rules (types and lengths).
    """
    signature = update.signature
    if signature is None:
        return unsigned_refusal(update)
    if not pinned:
        return (
            "This run was started before reviewer actions were signed, so it accepts none: let its SLA "
            "policy close it, or terminate it and submit the case again."
        )
    trusted = trusted_keys(pinned, signature.endorsements)
    public_key = trusted.get(signature.key_id)
    if public_key is None:
        return f"This action is signed with a key this run does not trust ({signature.key_id})."
    message = action_message(action, update, workflow_id=workflow_id, update_id=update_id)
    if not verifies(public_key, signature.value, message):
        return (
            "This action's signature does not match it: it was altered, or signed for another "
            "gate, run or Update."
        )
    return age_refusal(signature, now)


def age_refusal(signature: Signature, now: datetime) -> str | None:
    try:
        signed_at = datetime.fromisoformat(signature.signed_at)
    except ValueError:
        return "The signature's time is not a valid time."
    if signed_at.tzinfo is None:
        return "The signature's time has no time zone."
    if signed_at > now + MAX_SKEW:
        return f"This action is signed in the future ({signature.signed_at})."
    if now - signed_at > MAX_AGE:
        minutes = int(MAX_AGE.total_seconds() // 60)
        return f"This action was signed more than {minutes} minutes ago; send it again from the portal."
    return None


def trusted_keys(pinned: Sequence[VerifyingKey], endorsements: Sequence[KeyEndorsement]) -> dict[str, str]:
    """The run's pinned keys, plus each key endorsed by one already trusted (a rotation chain)."""
    trusted = {key.key_id: key.public_key for key in pinned}
    remaining = list(endorsements)
    while remaining:
        vouched = [e for e in remaining if e.endorsed_by in trusted and e.key_id not in trusted]
        valid = [
            e
            for e in vouched
            if verifies(trusted[e.endorsed_by], e.signature, endorsement_message(e.key_id, e.public_key))
        ]
        if not valid:
            break
        for endorsement in valid:
            trusted[endorsement.key_id] = endorsement.public_key
        remaining = [e for e in remaining if e.key_id not in trusted]
    return trusted


def signed_by_trusted_key(
    message: bytes,
    *,
    key_id: str,
    value: str,
    pinned: Sequence[VerifyingKey],
    endorsements: Sequence[KeyEndorsement],
) -> str | None:
    """Why `value` is not a signature of `message` by a key `pinned` trusts; None if it is (for
    what the portal signs besides actions, e.g. the archive's checkpoints)."""
    public_key = trusted_keys(pinned, endorsements).get(key_id)
    if public_key is None:
        return f"it is signed with a key the run does not trust ({key_id})"
    if not verifies(public_key, value, message):
        return "its signature does not match it"
    return None


def signed_at_text(moment: datetime) -> str:
    """How a signing time is written: ISO 8601 in UTC, to the microsecond."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def verifies(public_key: str, signature: str, message: bytes) -> bool:
    """Whether `signature` is `public_key`'s over `message`; False for anything else, a key or
    signature that is not text included (a stored record or a file edited by hand)."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError, TypeError, binascii.Error):
        return False
    return True


def _resolve_invalid_signature_outside_the_sandbox() -> None:
    """cryptography's Rust core looks InvalidSignature up the first time it raises it. Inside the
    workflow sandbox that lookup fails and aborts the worker process, so raise it once here: this
    module is passed through to the sandbox, so it is imported by the host, outside it."""
    public = Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key()
    with contextlib.suppress(InvalidSignature):
        public.verify(bytes(64), b"")


_resolve_invalid_signature_outside_the_sandbox()


def _canonical(value: dict[str, Any]) -> bytes:
    # ASCII-only: the same bytes on every platform, whatever the text holds.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")

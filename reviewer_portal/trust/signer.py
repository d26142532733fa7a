"""Signing reviewer actions: the portal vouches for who acts, with which roles, and what they do.

The workflow verifies the signature (agents.framework.signing) against the keys the run pinned.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from django.utils import timezone

from agents.framework.reviewer_actions import AnnotateInput, AssignInput, DecideInput, Signature
from agents.framework.signing import action_message, signed_at_text
from reviewer_portal.trust.keys import SigningKey, signing_key

A = TypeVar("A", DecideInput, AnnotateInput, AssignInput)


def sign_action(
    action: str,
    update: A,
    *,
    workflow_id: str,
    update_id: str,
    key: SigningKey | None = None,
    now: datetime | None = None,
) -> A:
    """`update` with the portal's signature, valid for Update `update_id` on `workflow_id` only."""
    key = key or signing_key()
    unsigned = replace(
        update,
        signature=Signature(
            key_id=key.key_id,
            signed_at=signed_at_text(now or timezone.now()),
            value="",
            endorsements=list(key.endorsements),
        ),
    )
    message = action_message(action, unsigned, workflow_id=workflow_id, update_id=update_id)
    assert unsigned.signature is not None
    return replace(unsigned, signature=replace(unsigned.signature, value=key.sign(message)))

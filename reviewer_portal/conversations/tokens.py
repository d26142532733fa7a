"""Customers are not portal users: a conversation's token, given to whoever started it, is what
lets them speak in it. An HMAC of the conversation's id under the portal's SECRET_KEY, so the
portal stores nothing and a token for one conversation opens no other."""

from __future__ import annotations

import re
import uuid

from django.utils.crypto import constant_time_compare, salted_hmac

ID = re.compile(r"support-[0-9a-f]{32}")
SALT = "reviewer_portal.conversations.token"


def new_conversation_id() -> str:
    return f"support-{uuid.uuid4().hex}"


def is_conversation_id(value: str) -> bool:
    return ID.fullmatch(value) is not None


def token_for(conversation_id: str) -> str:
    return salted_hmac(SALT, conversation_id, algorithm="sha256").hexdigest()


def token_matches(conversation_id: str, token: str) -> bool:
    return constant_time_compare(token_for(conversation_id), token)

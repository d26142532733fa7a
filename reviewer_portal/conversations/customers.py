"""Who the customer is. The portal does not sign customers in: online banking does, and sends them
here with an assertion of their customer number, signed with a key the two share
(SUPPORT_CUSTOMER_KEY) and valid for SUPPORT_ASSERTION_SECONDS. A customer number typed in by
hand is never enough: it would open anyone's account history to anyone.

Without a key the customer chat is switched off. In development (DEBUG) the key defaults to one
derived from SECRET_KEY, and the chat page offers a demo sign-in that makes the assertion itself.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core import signing

CUSTOMER_ID = re.compile(r"CUST-\d{4}")
SALT = "reviewer_portal.conversations.customer"


class CustomerChatOff(Exception):
    """No SUPPORT_CUSTOMER_KEY is configured: customers cannot be told apart, so nobody chats."""


def customer_assertion(customer_id: str) -> str:
    """What online banking sends: the customer number, signed and timestamped."""
    return _signer().sign(customer_id)


def asserted_customer(assertion: str) -> str | None:
    """The customer number an assertion vouches for, or None if it is forged, altered or stale."""
    try:
        customer_id = _signer().unsign(assertion, max_age=settings.SUPPORT_ASSERTION_SECONDS)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    return customer_id if CUSTOMER_ID.fullmatch(customer_id) else None


def chat_is_on() -> bool:
    return bool(settings.SUPPORT_CUSTOMER_KEY)


def _signer() -> signing.TimestampSigner:
    if not chat_is_on():
        raise CustomerChatOff("Customer chat is off: no SUPPORT_CUSTOMER_KEY is configured.")
    return signing.TimestampSigner(key=settings.SUPPORT_CUSTOMER_KEY, salt=SALT)

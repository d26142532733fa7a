"""Strict input at the workflow boundary: what a reviewer action must look like before any other
rule reads it. Types, lengths and Unicode, as pure functions returning the refusal in words, or
None. The payload converter turns JSON into the input dataclasses without checking field types, so
a raw client can send a number for a name or an object for a list; everything is checked here.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from agents.framework.contract import ORIGINS
from agents.framework.gate_content import DIGEST
from agents.framework.reviewer_actions import (
    ActionInput,
    AnnotateInput,
    AssignInput,
    DecideInput,
    KeyEndorsement,
    Signature,
)

MAX_ID_LENGTH = 300  # gate ids, action ids
MAX_USER_ID_LENGTH = 64
MAX_USERNAME_LENGTH = 150  # Django's own limit
MAX_ROLES = 16
MAX_TEXT_LENGTH = 2000  # a reason, instructions, a note
MAX_EDIT_LENGTH = 10_000
MAX_EDITS = 20
MAX_ENDORSEMENTS = 8
MAX_KEY_FIELD_LENGTH = 200  # key ids, base64 keys and signatures, timestamps
ROLE = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Invisible format characters (Unicode category Cf) are refused, for they make text read
# differently from what it says: bidirectional overrides ("Trojan source"), zero-width characters,
# and the tag characters a model reads but a reviewer cannot see. These few stay, because
# languages need them: the zero-width (non-)joiners, the left-to-right and right-to-left marks,
# and the soft hyphen.
VISIBLE_FORMAT_CHARACTERS = frozenset("\u200c\u200d\u200e\u200f\u00ad")


def text_refusal(name: str, value: object, *, max_length: int, multiline: bool = True) -> str | None:
    """Why `value` is not acceptable text for field `name`; None if it is."""
    if not isinstance(value, str):
        return f"The {name} must be text."
    if len(value) > max_length:
        return f"The {name} is longer than {max_length} characters."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"The {name} is not valid Unicode (it holds a lone surrogate)."
    allowed = "\n\r\t" if multiline else ""
    for char in value:
        category = unicodedata.category(char)
        if category == "Cf" and char not in VISIBLE_FORMAT_CHARACTERS:
            return f"The {name} contains invisible characters (U+{ord(char):04X})."
        if category == "Cc" and char not in allowed:
            return f"The {name} contains control characters."
    return None


def action_input_refusal(update: ActionInput) -> str | None:
    """Why a decide, annotate or assign input is malformed; None if its shape is sound."""
    return (
        _identity_refusal(update)
        or _fields_refusal(update)
        or (signature_shape_refusal(update.signature) if update.signature is not None else None)
    )


def _identity_refusal(update: ActionInput) -> str | None:
    refusal = (
        text_refusal("gate id", update.gate_id, max_length=MAX_ID_LENGTH, multiline=False)
        or text_refusal("action id", update.action_id, max_length=MAX_ID_LENGTH, multiline=False)
        or text_refusal("reviewer", update.reviewer, max_length=MAX_USERNAME_LENGTH, multiline=False)
        or text_refusal("reviewer id", update.reviewer_id, max_length=MAX_USER_ID_LENGTH, multiline=False)
        or roles_refusal("reviewer_roles", update.reviewer_roles)
    )
    if refusal:
        return refusal
    if not update.gate_id or not update.action_id:
        return "The gate id or the action id is missing."
    if not update.reviewer.strip() or not update.reviewer_id:
        return "The reviewer is missing: every action names its reviewer and their user id."
    if update.origin not in ORIGINS:
        return f"Unknown origin {update.origin!r}."
    return None


def _fields_refusal(update: ActionInput) -> str | None:
    if isinstance(update, DecideInput):
        if not isinstance(update.revision, int) or isinstance(update.revision, bool) or update.revision < 0:
            return "The decision does not say which recommendation it is about."
        if not isinstance(update.content, str) or (update.content and not DIGEST.fullmatch(update.content)):
            return "The decision's digest of the gate it was made on is not a sha256 in hex."
        return (
            text_refusal("decision", update.decision, max_length=50, multiline=False)
            or text_refusal("reason", update.reason, max_length=MAX_TEXT_LENGTH)
            or edits_refusal(update.edits)
        )
    if isinstance(update, AnnotateInput):
        return text_refusal("note", update.text, max_length=MAX_TEXT_LENGTH)
    if isinstance(update, AssignInput):
        refusal = (
            text_refusal("reason", update.reason, max_length=MAX_TEXT_LENGTH)
            or text_refusal("assignee", update.assignee, max_length=MAX_USERNAME_LENGTH, multiline=False)
            or text_refusal("assignee id", update.assignee_id, max_length=MAX_USER_ID_LENGTH, multiline=False)
            or roles_refusal("assignee_roles", update.assignee_roles)
        )
        if refusal is None and bool(update.assignee) != bool(update.assignee_id):
            return "An assignee is named by both username and user id, or not at all."
        return refusal
    return "Unknown kind of action."


def roles_refusal(name: str, roles: object) -> str | None:
    if not isinstance(roles, list) or len(roles) > MAX_ROLES:
        return f"The {name} must be a list of at most {MAX_ROLES} role names."
    if not all(isinstance(role, str) and ROLE.fullmatch(role) for role in roles):
        return f"The {name} must be role names (lower-case letters, digits and underscores)."
    return None


def edits_refusal(edits: object) -> str | None:
    if not isinstance(edits, dict) or len(edits) > MAX_EDITS:
        return f"The edits must be at most {MAX_EDITS} fields, each with its new text."
    for name, value in edits.items():
        refusal = text_refusal("edited field name", name, max_length=64, multiline=False) or text_refusal(
            f"edited '{name}'", value, max_length=MAX_EDIT_LENGTH
        )
        if refusal:
            return refusal
    return None


# An edit of a field the agent proposed as a number is written in plain digits: an optional "-",
# and for a decimal proposal an optional "." with decimals. Nothing a reader could take two ways
# ("15,000" is 15 in much of Europe, "1e3"), nothing Python's int() or float() would take but a
# reviewer would not write ("15_000", "nan", "inf", non-ASCII digits). At most 15 digits, as many
# as a double keeps exactly, so a tool reading JSON numbers as doubles gets the number approved.
MAX_NUMBER_DIGITS = 15
WHOLE_NUMBER = re.compile(r"\s*-?[0-9]+\s*", re.ASCII)
DECIMAL_NUMBER = re.compile(r"\s*-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*", re.ASCII)


def is_number(value: object) -> bool:
    """Whether a proposed value is a number: an int or a float, and not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def number_edit_refusal(name: str, proposed: object, text: str) -> str | None:
    """Why `text` may not replace field `name`, which the agent proposed as the number `proposed`;
    None if it may, or if `proposed` is no number (its edit is text). The decision form and the
    workflow's validator both ask this, so they refuse the same edits in the same words."""
    if not is_number(proposed):
        return None
    if isinstance(proposed, int):
        if not WHOLE_NUMBER.fullmatch(text):
            return (
                f"The edited '{name}' must be a whole number in digits, such as 15000 or -250 "
                "(no decimal point, no thousands separators)."
            )
    elif not DECIMAL_NUMBER.fullmatch(text):
        return (
            f"The edited '{name}' must be a number in digits, such as 15000 or -250.75 "
            "(no thousands separators, no exponent)."
        )
    if sum(char.isdigit() for char in text) > MAX_NUMBER_DIGITS:
        return f"The edited '{name}' has more than {MAX_NUMBER_DIGITS} digits."
    return None


def edit_value_refusal(name: str, proposed: object, text: str) -> str | None:
    """Why `text` may not replace field `name` (proposed as `proposed`): a number's rule, then
    that it says something. Asked by the workflow's validator and the decision form alike."""
    if refusal := number_edit_refusal(name, proposed, text):
        return refusal
    return None if text.strip() else f"The edited '{name}' must be non-empty text."


def edited_value(proposed: object, text: str) -> Any:
    """The reviewer's edit as the tool is given it: a number of the proposed kind (int or float)
    where the agent proposed a number and `number_edit_refusal` takes the text; else the text."""
    if not is_number(proposed) or not isinstance(text, str) or number_edit_refusal("", proposed, text):
        return text
    return int(text) if isinstance(proposed, int) else float(text)


def signature_shape_refusal(signature: Any) -> str | None:
    if not isinstance(signature, Signature):
        return "The signature is malformed."
    fields = (signature.key_id, signature.signed_at, signature.value)
    if not all(isinstance(f, str) and 0 < len(f) <= MAX_KEY_FIELD_LENGTH for f in fields):
        return "The signature is malformed."
    chain = signature.endorsements
    if not isinstance(chain, list) or len(chain) > MAX_ENDORSEMENTS:
        return f"The signature's key endorsements must be a list of at most {MAX_ENDORSEMENTS}."
    for endorsement in chain:
        if not isinstance(endorsement, KeyEndorsement):
            return "A key endorsement is malformed."
        parts = (endorsement.key_id, endorsement.public_key, endorsement.endorsed_by, endorsement.signature)
        if not all(isinstance(p, str) and 0 < len(p) <= MAX_KEY_FIELD_LENGTH for p in parts):
            return "A key endorsement is malformed."
    return None

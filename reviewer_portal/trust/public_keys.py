"""The portal's published public keys, as workers hold them to check every signed action.

A JSON list of `{"key_id", "public_key"}` (what `manage.py signing_key public` prints), from the
environment (`PORTAL_PUBLIC_KEYS`) or a file (`PORTAL_PUBLIC_KEYS_FILE`). Nothing in it is secret:
it is how a worker that holds no private key knows which keys are the portal's
(agents.framework.worker_keyring). The worker checks the key that signed an action, never the
older keys a run pinned, so it needs the key the portal signs with now (and, during a rotation,
the next one) and no retired key: a retired private key that leaked signs nothing a worker takes.
A process that holds the signing key and is given no keyring uses that key (`make dev`, the tests,
the archiving sidecar).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from agents.framework.types import VerifyingKey
from reviewer_portal.trust.keys import portal_keyring, signing_key

NOT_CONFIGURED = (
    "Workers check every reviewer action against the portal's public keys: set PORTAL_PUBLIC_KEYS_FILE "
    "(or PORTAL_PUBLIC_KEYS) to what `manage.py signing_key public` prints where the portal's key is."
)


def worker_keyring() -> dict[str, str]:
    """Key id to public key: the configured keyring, else the keys this process's signing key
    vouches for. Raises ImproperlyConfigured, naming what to set, if it has neither."""
    inline, path = settings.PORTAL_PUBLIC_KEYS, str(settings.PORTAL_PUBLIC_KEYS_FILE or "")
    if inline and path:
        raise ImproperlyConfigured("Set PORTAL_PUBLIC_KEYS or PORTAL_PUBLIC_KEYS_FILE, not both.")
    if inline:
        return keyring_from_json(inline)
    if path:
        try:
            return keyring_from_json(Path(path).read_text())
        except OSError as err:
            raise ImproperlyConfigured(f"PORTAL_PUBLIC_KEYS_FILE {path} cannot be read: {err}.") from err
    try:
        signing_key()
    except ImproperlyConfigured as err:
        raise ImproperlyConfigured(f"{NOT_CONFIGURED} ({err})") from err
    return {key.key_id: key.public_key for key in current_key()}


def current_key() -> list[VerifyingKey]:
    """The key the portal signs with now, as a keyring of one."""
    return [signing_key().verifying_key()]


def keyring_from_json(text: str) -> dict[str, str]:
    """The keyring in `text`, each key checked to be an Ed25519 public key."""
    try:
        document = json.loads(text)
    except ValueError as err:
        raise ImproperlyConfigured(f"The portal's public keyring is not JSON: {err}.") from err
    if not isinstance(document, list) or not document:
        raise ImproperlyConfigured("The portal's public keyring must be a list of at least one key.")
    keys: list[VerifyingKey] = []
    for entry in document:
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(name), str) and entry[name] for name in ("key_id", "public_key")
        ):
            raise ImproperlyConfigured(
                "Each key in the portal's public keyring needs a key_id and public_key."
            )
        _require_ed25519(entry["key_id"], entry["public_key"])
        keys.append(VerifyingKey(entry["key_id"], entry["public_key"]))
    try:
        return {key.key_id: key.public_key for key in merged_keyring([], keys)}
    except ValueError as err:
        raise ImproperlyConfigured(str(err)) from err


def merged_keyring(kept: Iterable[VerifyingKey], added: Iterable[VerifyingKey]) -> list[VerifyingKey]:
    """`kept` and then the keys of `added` it does not hold; a key id with two public keys is a
    ValueError (a keyring keeps every key ever used, each under one id)."""
    merged: dict[str, VerifyingKey] = {}
    for key in [*kept, *added]:
        held = merged.setdefault(key.key_id, key)
        if held.public_key != key.public_key:
            raise ValueError(f"Key id {key.key_id} names two different public keys.")
    return list(merged.values())


def _require_ed25519(key_id: str, public_key: str) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
    except (binascii.Error, ValueError) as err:
        raise ImproperlyConfigured(
            f"Key {key_id} in the portal's public keyring is not an Ed25519 public key."
        ) from err


def verification_keyring() -> list[VerifyingKey]:
    """The portal's public keys to verify what they signed long ago (archive records): every key
    its signing key retired or names, where this process holds it (the portal); else the keyring
    configured (the archiving sidecar, which holds no portal key: give it `signing_key keyring`,
    every key ever used). Raises ImproperlyConfigured, naming what to set, if it has neither."""
    try:
        return portal_keyring()
    except ImproperlyConfigured:
        pass
    inline, path = settings.PORTAL_PUBLIC_KEYS, str(settings.PORTAL_PUBLIC_KEYS_FILE or "")
    if not (inline or path):
        raise ImproperlyConfigured(
            "Verifying the archive chain needs the portal's public keys: set PORTAL_PUBLIC_KEYS_FILE to what "
            "`manage.py signing_key keyring` prints where the portal's key is (every key ever used)."
        )
    return [VerifyingKey(*item) for item in worker_keyring().items()]

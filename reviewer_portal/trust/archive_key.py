"""The archive's own key: it signs the archive chain's checkpoints, and nothing a run accepts.

The archiving sidecar (`run_worker --archive-only`) signs each record it appends. With the key that
signs reviewer actions it could also sign a decision as any reviewer, so it has a key of its own
(`ARCHIVE_SIGNING_KEY`, or the secret file `ARCHIVE_SIGNING_KEY_FILE`; the same JSON document as
the portal's key, reviewer_portal.trust.keys). The portal's key vouches for it once, when it is made
(`manage.py signing_key archive-key`), with a signature over its own prefix: an endorsement for
archiving, which no run takes as one of a newer portal key (agents.framework.signing's
endorsements have another prefix). Verifiers hold only the portal's public keys, as before: a
checkpoint verifies if the portal's key signed it (records appended before this key existed) or
the archive key it names, endorsed by the portal's key, did.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from agents.framework import signing
from agents.framework.reviewer_actions import KeyEndorsement
from agents.framework.types import VerifyingKey
from reviewer_portal.trust.keys import ARCHIVE, SigningKey, generate, new_key_id, signing_key, write_new
from reviewer_portal.trust.public_keys import verification_keyring

ARCHIVE_KEY_PREFIX = b"reviewer-portal/archive-key/v1\n"
ENDORSEMENT_FIELDS = ("key_id", "public_key", "signature", "endorsed_by")


def archive_key_message(key_id: str, public_key: str) -> bytes:
    return (
        ARCHIVE_KEY_PREFIX + json.dumps({"key_id": key_id, "public_key": public_key}, sort_keys=True).encode()
    )


def new_archive_key(portal: SigningKey, *, key_id: str = "") -> SigningKey:
    """A new archive key, endorsed for archiving by the portal's key `portal`."""
    new = generate(key_id=key_id or new_key_id("archive"), dev=portal.dev)
    endorsement = KeyEndorsement(
        key_id=new.key_id,
        public_key=new.public_key,
        endorsed_by=portal.key_id,
        signature=portal.sign(archive_key_message(new.key_id, new.public_key)),
    )
    return SigningKey(new.key_id, new.private_key, (endorsement,), new.dev, purpose=ARCHIVE)


def ensure_dev_archive_key(path: Path) -> bool:
    """Make a development archive key at `path`, endorsed by the development portal key, if there
    is none, or if the one there is a development key the portal's key no longer endorses (the
    portal's development key was made again since); True if one was made."""
    if path.exists():
        held = SigningKey.from_json(path.read_text())
        if not held.dev or archive_key_refusal(held) is None:
            return False
        path.unlink()
    write_new(path, new_archive_key(signing_key()))
    return True


def archive_key_refusal(key: SigningKey | None = None) -> str | None:
    """Why what the archive key (`key`, default: this process's) signs would not verify with the
    portal's public keys; None if it would, or if no archive key is configured (the archiver then
    signs with the portal's)."""
    if key is None and not archive_key_configured():
        return None
    try:
        key = key or checkpoint_key()
        portal_keys = verification_keyring()
    except ImproperlyConfigured as err:
        return str(err)
    probe = b"reviewer-portal/archive-key-probe"
    refusal = checkpoint_refusal(
        probe,
        key_id=key.key_id,
        value=key.sign(probe),
        endorsements=key.endorsements,
        portal_keys=portal_keys,
    )
    if refusal:
        return f"The archive key {key.key_id} is not endorsed by a portal key the verifiers hold: {refusal}."
    return None


def checkpoint_key() -> SigningKey:
    """The key the archiver signs checkpoints with: the archive's own when configured, else the
    portal's (as before the archive had one). Raises ImproperlyConfigured if neither is held."""
    if not archive_key_configured():
        return signing_key()
    inline, path = settings.ARCHIVE_SIGNING_KEY, str(settings.ARCHIVE_SIGNING_KEY_FILE)
    key = SigningKey.from_json(inline or Path(path).read_text())
    if key.dev and not settings.DEBUG:
        raise ImproperlyConfigured("ARCHIVE_SIGNING_KEY is a development key; production needs its own.")
    if key.purpose != ARCHIVE:
        raise ImproperlyConfigured(
            f"ARCHIVE_SIGNING_KEY holds {key.key_id}, a key for {key.purpose}, not an archive key: make one "
            "with `manage.py signing_key archive-key` and keep the portal's key out of the archiver."
        )
    return key


def archive_key_configured() -> bool:
    """Whether this process is given an archive key (inline, or a file that is there)."""
    path = str(settings.ARCHIVE_SIGNING_KEY_FILE or "")
    return bool(settings.ARCHIVE_SIGNING_KEY) or (bool(path) and Path(path).exists())


def checkpoint_refusal(
    message: bytes,
    *,
    key_id: str,
    value: str,
    endorsements: Sequence[KeyEndorsement],
    portal_keys: Sequence[VerifyingKey],
) -> str | None:
    """Why `value` is not a checkpoint signature the portal vouches for; None if it is: by a key
    `portal_keys` trusts, or by the archive key the endorsements name, endorsed for archiving by
    one of those."""
    texts = [key_id, value, *(getattr(e, name) for e in endorsements for name in ENDORSEMENT_FIELDS)]
    if not all(isinstance(text, str) for text in texts):  # a record or file edited by hand
        return "its signature or endorsements are malformed"
    for archive in (e for e in endorsements if e.key_id == key_id and e.endorsed_by != key_id):
        chain = [e for e in endorsements if e is not archive]
        endorser = signing.trusted_keys(portal_keys, chain).get(archive.endorsed_by)
        if endorser is not None and signing.verifies(
            endorser, archive.signature, archive_key_message(archive.key_id, archive.public_key)
        ):
            return (
                None
                if signing.verifies(archive.public_key, value, message)
                else "its signature does not match it"
            )
    return signing.signed_by_trusted_key(
        message, key_id=key_id, value=value, pinned=portal_keys, endorsements=endorsements
    )

"""The archive's own key (reviewer_portal/trust/archive_key.py).

The archiving sidecar signed the chain with the portal's key, the one that signs reviewer actions,
so any process that archived could also sign a decision as any reviewer. It now signs with a key
of its own, which the portal's key endorses for archiving only: verifiers still need only the
portal's public keys, and no run takes the archive key for the portal's.
"""

from __future__ import annotations

import dataclasses
import json
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from temporalio.client import WorkflowUpdateFailedError

from agents.framework.reviewer_actions import KeyEndorsement
from reviewer_portal.archive.chain import append, signed_checkpoint
from reviewer_portal.archive.hashing import checkpoint_message
from reviewer_portal.archive.integrity import verify_stored
from reviewer_portal.log_redaction import configured_secrets
from reviewer_portal.trust.archive_key import (
    archive_key_refusal,
    checkpoint_key,
    checkpoint_refusal,
    ensure_dev_archive_key,
    new_archive_key,
)
from reviewer_portal.trust.checks import signing_key_check
from reviewer_portal.trust.keys import SigningKey, generate, portal_keyring, rotate, signing_key, write_new
from tests import actions
from tests.conftest import start_loan, wait_for_gate

MESSAGE = checkpoint_message("default", 7, "ab" * 32)


def refusal_of(signed: dict, portal_keys=None) -> str | None:
    return checkpoint_refusal(
        MESSAGE,
        key_id=signed["key_id"],
        value=signed["value"],
        endorsements=[KeyEndorsement(**e) if isinstance(e, dict) else e for e in signed["endorsements"]],
        portal_keys=portal_keys if portal_keys is not None else portal_keyring(),
    )


def signed_by(key: SigningKey) -> dict:
    return {"key_id": key.key_id, "value": key.sign(MESSAGE), "endorsements": list(key.endorsements)}


def test_the_archiver_signs_with_the_archives_key_which_verifies_through_the_portals_endorsement():
    signed = signed_checkpoint("default", 7, "ab" * 32)

    assert signed["key_id"] == checkpoint_key().key_id == "test-archive-key"
    assert refusal_of(signed) is None
    # Verifiers hold the portal's public keys only: a keyring without the portal's key refuses it.
    assert refusal_of(signed, portal_keys=[generate().verifying_key()]) is not None


def test_a_checkpoint_the_portals_own_key_signed_still_verifies(portal_signing_key):
    # Records appended before the archive had a key of its own.
    assert refusal_of(signed_by(portal_signing_key)) is None


def test_an_archive_key_endorsed_by_a_stranger_or_altered_is_refused(portal_signing_key):
    strangers = new_archive_key(generate(key_id="stranger"), key_id="archive-stranger")
    ours = new_archive_key(portal_signing_key, key_id="archive-ours")
    other = generate()
    [endorsement] = ours.endorsements
    swapped = dataclasses.replace(
        endorsement, public_key=other.public_key
    )  # another key under its endorsement

    assert refusal_of(signed_by(strangers)) is not None
    assert (
        refusal_of({"key_id": ours.key_id, "value": other.sign(MESSAGE), "endorsements": [swapped]})
        is not None
    )
    assert (
        refusal_of({**signed_by(ours), "value": ours.sign(MESSAGE + b"x")})
        == "its signature does not match it"
    )


@pytest.mark.parametrize("field", ["public_key", "signature", "key_id", "endorsed_by"])
def test_a_stored_endorsement_with_a_field_that_is_not_text_is_refused_not_a_500(portal_signing_key, field):
    """A record or export edited by hand: a number, a list or null where text belongs is refused
    like any altered endorsement (it raised TypeError, a 500 on the audit page)."""
    ours = new_archive_key(portal_signing_key, key_id="archive-ours")
    [endorsement] = ours.endorsements
    for odd in (12345, ["x"], None):
        bent = dataclasses.replace(endorsement, **{field: odd})
        assert refusal_of({**signed_by(ours), "endorsements": [bent]}) is not None
    assert refusal_of({**signed_by(ours), "value": 12345}) is not None


def test_no_run_takes_the_archive_key_for_the_portals(temporal, worker):
    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)
    archive = checkpoint_key()  # its signature carries the portal's endorsement for archiving

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        actions.decide(temporal, handle, gate.gate_id, key=archive, reason="signed by the archiver")

    assert f"a key this run does not trust ({archive.key_id})" in refused.value.cause.message
    temporal.run(handle.terminate("test done"))


def test_signing_key_archive_key_writes_a_key_the_portals_endorses(tmp_path, portal_signing_key):
    out = tmp_path / "archive.json"

    call_command(
        "signing_key", "archive-key", "--out", str(out), "--key-id", "archive-2026", stdout=StringIO()
    )

    made = SigningKey.from_json(out.read_text())
    assert made.key_id == "archive-2026" and made.endorsements[0].endorsed_by == portal_signing_key.key_id
    assert refusal_of(signed_by(made)) is None


def test_the_archive_keys_private_half_is_redacted_from_logs_like_the_portals():
    private = json.loads(checkpoint_key().to_json())["private_key"]

    assert private in configured_secrets()


def test_after_a_portal_key_rotation_what_the_old_key_and_its_archive_key_signed_still_verifies(
    settings, portal_signing_key
):
    # Found by the review of the archive key: the keyring dropped the oldest key of the chain,
    # so after one rotation every record read as altered.
    legacy = signed_by(portal_signing_key)
    archived = signed_by(checkpoint_key())  # endorsed by the key about to be retired
    settings.PORTAL_SIGNING_KEY = rotate(portal_signing_key, key_id="after-rotation").to_json()

    assert portal_signing_key.key_id in {k.key_id for k in portal_keyring()}
    assert refusal_of(legacy) is None
    assert refusal_of(archived) is None


def test_the_archiver_checks_the_chain_with_public_keys_only(db, settings, portal_signing_key):
    # Found by the same review: a purge first checks the chain, and that asked for the portal's
    # private key, which the archiving sidecar does not hold: every purge failed.
    record = append(namespace="default", kind="run", content={"events": []}, workflow_id="w-1", run_id="r-1")
    published = json.dumps([{"key_id": k.key_id, "public_key": k.public_key} for k in portal_keyring()])
    settings.PORTAL_SIGNING_KEY, settings.PORTAL_SIGNING_KEY_FILE = "", ""
    settings.PORTAL_PUBLIC_KEYS = published

    verify_stored("default", from_seq=record.seq, to_seq=record.seq)  # raises if it cannot

    settings.PORTAL_PUBLIC_KEYS = ""
    with pytest.raises(ImproperlyConfigured, match="set PORTAL_PUBLIC_KEYS_FILE"):
        verify_stored("default", from_seq=record.seq, to_seq=record.seq)


def test_a_key_given_for_the_other_purpose_is_refused_by_name(settings, portal_signing_key):
    settings.ARCHIVE_SIGNING_KEY = portal_signing_key.to_json()
    with pytest.raises(ImproperlyConfigured, match="not an archive key"):
        checkpoint_key()

    settings.PORTAL_SIGNING_KEY = new_archive_key(portal_signing_key, key_id="archive-x").to_json()
    with pytest.raises(ImproperlyConfigured, match="a key for archive"):
        signing_key()


def test_check_deploy_names_an_archive_key_the_portals_keys_do_not_endorse(settings, portal_signing_key):
    assert signing_key_check() == []
    settings.ARCHIVE_SIGNING_KEY = new_archive_key(
        generate(key_id="stranger"), key_id="archive-stranger"
    ).to_json()

    [error] = signing_key_check()

    assert error.id == "trust.E002" and "archive-stranger is not endorsed by a portal key" in error.msg


def test_make_dev_replaces_a_development_archive_key_the_portals_key_no_longer_endorses(
    tmp_path, portal_signing_key
):
    """The development portal key was made again (var/keys emptied in part): the archive key it
    once endorsed would sign checkpoints nothing verifies. A production key is never touched."""
    stale, kept = tmp_path / "stale.json", tmp_path / "production.json"
    write_new(stale, new_archive_key(generate(key_id="old-dev", dev=True), key_id="archive-old"))
    write_new(kept, new_archive_key(generate(key_id="old-prod"), key_id="archive-prod"))

    assert ensure_dev_archive_key(stale) is True and ensure_dev_archive_key(kept) is False
    fresh = SigningKey.from_json(stale.read_text())
    assert fresh.key_id != "archive-old" and archive_key_refusal(fresh) is None
    assert ensure_dev_archive_key(stale) is False  # a good one stays
    assert SigningKey.from_json(kept.read_text()).key_id == "archive-prod"

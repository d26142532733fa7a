"""The trust commands: `signing_key` (new, rotate, show) and `operator_action`, an admin's signed
override from outside the portal's pages; and the checks that keep a development key out of
production."""

from __future__ import annotations

import json
import stat
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from agents.framework.input_rules import MAX_ENDORSEMENTS
from agents.framework.signing import trusted_keys
from reviewer_portal.inbox.models import ActionAttempt
from reviewer_portal.team.models import Absence
from reviewer_portal.trust.keys import SigningKey, dropped_from_chain, generate, rotate
from reviewer_portal.trust.public_keys import keyring_from_json
from tests.conftest import logged_in, make_user, manage_py, production_env

ROOT = Path(__file__).resolve().parent.parent


def test_signing_key_new_writes_a_private_file_and_never_overwrites_it(tmp_path):
    path = tmp_path / "keys" / "portal.json"

    call_command("signing_key", "new", "--out", str(path), "--key-id", "portal-a", stdout=StringIO())

    key = SigningKey.from_json(path.read_text())
    assert key.key_id == "portal-a" and not key.dev
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(CommandError, match="never overwritten"):
        call_command("signing_key", "new", "--out", str(path), stdout=StringIO())


def test_rotate_endorses_the_new_key_with_the_configured_one(tmp_path, settings, portal_signing_key):
    path = tmp_path / "rotated.json"
    out = StringIO()

    call_command("signing_key", "rotate", "--out", str(path), "--key-id", "portal-b", stdout=out)

    new = SigningKey.from_json(path.read_text())
    [endorsement] = new.endorsements
    assert (endorsement.key_id, endorsement.endorsed_by) == ("portal-b", portal_signing_key.key_id)
    # A run that pinned only the old key trusts the new one through the endorsement.
    pinned = [portal_signing_key.verifying_key()]
    assert trusted_keys(pinned, new.endorsements)["portal-b"] == new.public_key
    assert "runs in flight accept it" in out.getvalue()
    settings.PORTAL_SIGNING_KEY = path.read_text()
    shown = StringIO()
    call_command("signing_key", "show", stdout=shown)
    assert (
        "key id:     portal-b" in shown.getvalue()
        and f"endorses:   portal-b by {portal_signing_key.key_id}" in (shown.getvalue())
    )
    assert "private" not in shown.getvalue()


def test_an_endorsement_chain_from_a_key_the_run_never_pinned_adds_no_trust(portal_signing_key):
    rotated = rotate(portal_signing_key, key_id="portal-b")
    pinned = [generate(key_id="someone-else").verifying_key()]

    assert set(trusted_keys(pinned, rotated.endorsements)) == {"someone-else"}


@pytest.mark.parametrize(
    ("key", "message"),
    [("missing", "Set PORTAL_SIGNING_KEY or PORTAL_SIGNING_KEY_FILE"), ("dev", "a development key")],
)
def test_check_deploy_refuses_production_without_its_own_signing_key(tmp_path, key, message):
    env = production_env(PORTAL_SIGNING_KEY=None, PORTAL_SIGNING_KEY_FILE=None)
    if key == "dev":
        path = tmp_path / "dev.json"
        path.write_text(generate(dev=True).to_json())
        env["PORTAL_SIGNING_KEY_FILE"] = str(path)

    check = manage_py("check", "--deploy", env=env)

    assert check.returncode != 0 and "trust.E001" in check.stderr and message in check.stderr


def test_operator_action_decides_as_a_named_admin_recorded_as_an_override(temporal, portal, loan_gate):
    handle, gate = loan_gate
    make_user("root", superuser=True)
    make_user("officer", "credit_officer")
    out = StringIO()

    call_command(
        "operator_action",
        gate.gate_id,
        "approve",
        "--as",
        "root",
        "--reason",
        "Credit committee approved",
        stdout=out,
    )
    result = temporal.run(handle.result())

    assert "Approval recorded by the agent." in out.getvalue()
    assert (result.gate.decided_by, result.gate.decided_via) == ("root", "operator")
    attempt = ActionAttempt.objects.get()
    assert (attempt.origin, attempt.status, attempt.envelope["signature"]["key_id"]) == (
        "operator",
        "accepted",
        "test-portal-key",
    )
    auditor = logged_in(make_user("auditor", "auditor"))
    page = auditor.get(f"/audit/{gate.workflow_id}/").content.decode()
    assert "decide: approve by root (operator override): Credit committee approved" in page


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["approve", "--as", "officer", "--reason", "x"], "not an active admin"),
        (["approve", "--as", "root"], "needs --reason"),
        (["unclaim", "--as", "root"], "needs --reason"),
        (["assign", "--as", "root", "--assignee", "nobody", "--reason", "x"], "No active user 'nobody'"),
    ],
    ids=["not-an-admin", "no-reason", "no-reason-to-unclaim", "unknown-assignee"],
)
def test_operator_action_refuses_before_sending_anything(temporal, portal, loan_gate, options, message):
    _, gate = loan_gate
    make_user("root", superuser=True)
    make_user("officer", "credit_officer")

    with pytest.raises(CommandError, match=message):
        call_command("operator_action", gate.gate_id, *options, stdout=StringIO())
    assert not ActionAttempt.objects.exists()


def test_operator_action_refuses_to_hand_a_gate_to_someone_marked_absent(temporal, portal, loan_gate):
    """As the team page offers only those present, and as a queued assignment is held for the
    absence (reviewer_portal.inbox.resend_checks): refused before anything is recorded or sent."""
    _, gate = loan_gate
    root = make_user("root", superuser=True)
    officer = make_user("officer", "credit_officer")
    Absence.objects.create(user=officer, since=timezone.now(), marked_by=root, reason="Leave")

    with pytest.raises(
        CommandError, match=r"officer is marked absent \(since .*\): assign the gate to someone"
    ):
        call_command(
            "operator_action",
            gate.gate_id,
            "assign",
            "--as",
            "root",
            "--assignee",
            "officer",
            "--reason",
            "x",
        )
    assert not ActionAttempt.objects.exists()


def test_operator_action_that_the_run_refuses_exits_non_zero_and_is_kept(temporal, portal, loan_gate):
    _, gate = loan_gate
    make_user("root", superuser=True)
    make_user("intake", "credit_officer")  # the submitter: four eyes holds even for an override

    with pytest.raises(CommandError, match="Not applied"):
        call_command(
            "operator_action",
            gate.gate_id,
            "assign",
            "--as",
            "root",
            "--assignee",
            "intake",
            "--reason",
            "Officer on leave",
            stdout=StringIO(),
        )
    assert ActionAttempt.objects.get().detail == "Four-eyes rule: intake submitted this case."


def test_a_rotation_never_reuses_a_key_id_and_keeps_the_chain_a_run_accepts(portal_signing_key):
    keys = [portal_signing_key]
    for n in range(10):
        keys.append(rotate(keys[-1], key_id=f"portal-{n}"))
    newest = keys[-1]

    # A run pinned to any of the last MAX_ENDORSEMENTS keys before the newest still trusts it.
    trusting = [
        k.key_id for k in keys if newest.key_id in trusted_keys([k.verifying_key()], newest.endorsements)
    ]
    assert len(newest.endorsements) == MAX_ENDORSEMENTS
    assert trusting == [k.key_id for k in keys[-MAX_ENDORSEMENTS - 1 :]]
    assert dropped_from_chain(keys[-2], newest) == [keys[-MAX_ENDORSEMENTS - 2].key_id]
    with pytest.raises(ValueError, match="was used before"):
        rotate(newest, key_id=keys[-MAX_ENDORSEMENTS - 1].key_id)  # the root of the kept chain
    with pytest.raises(ValueError, match="was used before"):
        rotate(newest, key_id="portal-5")


def test_keyring_merge_keeps_every_published_key_and_refuses_a_conflicting_one(tmp_path, portal_signing_key):
    retired = generate(key_id="retired")
    published = tmp_path / "keyring.json"
    published.write_text(json.dumps([{"key_id": "retired", "public_key": retired.public_key}]))
    conflicting = tmp_path / "conflicting.json"
    conflicting.write_text(
        json.dumps([{"key_id": portal_signing_key.key_id, "public_key": retired.public_key}])
    )

    out = StringIO()
    call_command("signing_key", "keyring", "--merge", str(published), stdout=out)

    # What it prints is what a worker loads (PORTAL_PUBLIC_KEYS_FILE).
    assert keyring_from_json(out.getvalue()) == {
        "retired": retired.public_key,
        portal_signing_key.key_id: portal_signing_key.public_key,
    }
    with pytest.raises(CommandError, match=f"{portal_signing_key.key_id} names two different public keys"):
        call_command("signing_key", "keyring", "--merge", str(conflicting), stdout=StringIO())
    with pytest.raises(CommandError, match="Cannot merge into"):
        call_command("signing_key", "keyring", "--merge", str(tmp_path / "none.json"), stdout=StringIO())

"""Taking a reviewer's roles away takes their cases away: a gate they decided opens, with its
run's trail and its payloads through the codec endpoint, only while they still hold the gate's
role or a role it passed through. "My decisions" still lists what they did, as a record, without
links into the case. Auditors and admins keep their access. Real dev server, a real decision."""

from __future__ import annotations

import json
import time

from django.contrib.auth.models import Group, User
from django.test import Client

from reviewer_portal.codec.models import CodecAccess
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.selectors import gate_visible_to
from tests.conftest import decide, logged_in, make_user
from tests.test_codec_endpoint import decoded_text, encrypted_input
from tests.test_inbox import make_gate

APPLICANT = "Amira Haddad"  # loan_gate's applicant


def test_a_reviewer_whose_roles_are_removed_no_longer_opens_the_gate_they_decided(temporal, loan_gate):
    handle, gate = loan_gate
    officer = make_user("officer", "credit_officer")
    client = logged_in(officer)
    decide(client, gate, "approve", reason="Affordable")
    decided = _decided(gate)
    assert decided.decided_by_id == str(officer.pk)
    body = encrypted_input(temporal, handle)

    officer.groups.clear()  # moved off lending; the account stays active

    assert client.get(f"/gates/{gate.gate_id}/").status_code == 404
    assert client.get(f"/audit/{gate.workflow_id}/").status_code == 403
    refused = _decode(client, body, handle.id)
    assert refused.status_code == 403 and APPLICANT not in refused.content.decode()
    assert CodecAccess.objects.get(workflow_id=handle.id).allowed is False
    # "My decisions" keeps the record of what they did, and no way into the case.
    record = client.get("/history/decisions/").content.decode()
    assert f'data-gate-id="{gate.gate_id}"' in record and gate.subject in record
    assert (
        f'href="/gates/{gate.gate_id}/"' not in record and f'href="/audit/{gate.workflow_id}/"' not in record
    )

    officer.groups.add(Group.objects.get(name="credit_officer"))  # back on lending

    assert client.get(f"/gates/{gate.gate_id}/").status_code == 200
    assert client.get(f"/audit/{gate.workflow_id}/").status_code == 200
    assert APPLICANT in decoded_text(_decode(client, body, handle.id))
    record = client.get("/history/decisions/").content.decode()
    assert f'href="/gates/{gate.gate_id}/"' in record and f'href="/audit/{gate.workflow_id}/"' in record


def test_auditors_and_admins_without_a_reviewer_role_keep_the_decided_case(temporal, loan_gate):
    handle, gate = loan_gate
    decide(logged_in(make_user("officer", "credit_officer")), gate, "approve", reason="Affordable")
    _decided(gate)
    body = encrypted_input(temporal, handle)

    for reader in (make_user("auditor", "auditor"), make_user("root", superuser=True)):
        client = logged_in(reader)
        assert client.get(f"/gates/{gate.gate_id}/").status_code == 200, reader
        assert client.get(f"/audit/{gate.workflow_id}/").status_code == 200, reader
        assert APPLICANT in decoded_text(_decode(client, body, handle.id)), reader


def test_a_gate_that_moved_on_stays_open_to_the_role_it_left_but_not_to_its_decider_without_it(db):
    """The projection alone: the roles a gate passed through keep it, a decision alone does not."""
    officer = make_user("officer", "credit_officer")
    senior = make_user("senior", "senior_credit_officer")
    escalated = make_gate(
        role="senior_credit_officer",
        past_roles=["credit_officer"],
        status="approved",
        decided_by="senior",
        decided_by_id=str(senior.pk),
    )

    assert _visible(officer, escalated) and _visible(senior, escalated)
    senior.groups.clear()
    assert not _visible(senior, escalated)
    assert _visible(officer, escalated)  # nothing changes for the role the gate passed through


def _visible(user: User, gate: Gate) -> bool:
    user = User.objects.get(pk=user.pk)  # roles are read once per user object (a request's)
    return gate_visible_to(user=user).filter(gate_id=gate.gate_id).exists()


def _decided(gate: Gate, timeout: float = 30) -> Gate:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = Gate.objects.get(gate_id=gate.gate_id)
        if row.status == Gate.Status.APPROVED:
            return row
        time.sleep(0.1)
    raise AssertionError(f"{gate.gate_id} was never recorded as approved")


def _decode(client: Client, body: dict, workflow_id: str):
    """A decode naming the run in its path, as the CLI does."""
    path = f"/codec/default/workflows/{workflow_id}/decode"
    return client.post(path, json.dumps(body), content_type="application/json")

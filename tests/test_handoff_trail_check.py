"""The AI Act record of a support conversation's handoff, checked against its run's trail
(reviewer_portal.audit.decision_check): a rep closes the handoff with a signed action of their own
(rep_close), which the check verifies as it does a decision (it used to say "not checked").

From the review: two reps closing at once are both taken by the validator, and the second is
refused in its turn. The trail listed the refused close as a closing, and the check picked the
one the projection's own `decision_id` named, so a row edited to the refused close "matched". A
refused Update is now its own kind in the trail, and the check takes the close the run applied.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connections

from agents.support.contract import REP_CLOSE, REP_REPLY
from agents.support.tools import TICKETS_DIR_ENV
from reviewer_portal.audit.trail import find_trail
from reviewer_portal.conversations.services import conversation_rep_act
from reviewer_portal.inbox import publishing
from reviewer_portal.inbox.models import Gate
from tests.conftest import logged_in, make_user, projected_gate
from tests.test_support_conversation import handed_off


@pytest.fixture
def auditor(portal_settings):
    return logged_in(make_user("audrey", "auditor"))


@pytest.fixture(autouse=True)
def tickets(tmp_path, monkeypatch):
    monkeypatch.setenv(TICKETS_DIR_ENV, str(tmp_path / "tickets"))


def record_of(auditor, gate: Gate) -> dict:
    response = auditor.get(f"/audit/decisions/{gate.gate_id}.json")
    assert response.status_code == 200
    return json.loads(response.content)


def closed_by_a_rep(temporal, client) -> Gate:
    rep = logged_in(make_user("support", "support_rep"))
    conversation_id, _ = handed_off(client)
    gate = projected_gate(temporal.client.get_workflow_handle(conversation_id))
    closed = rep.post(
        f"/conversations/{conversation_id}/reply/",
        {
            "text": "Refund sent — 12,50 € \N{GRINNING FACE}.",
            "close": "1",
            "submission_id": str(uuid.uuid4()),
        },
    )
    assert closed.status_code == 200
    return projected_gate(temporal.client.get_workflow_handle(conversation_id), version=gate.version + 1)


def test_a_closed_support_conversation_matches_its_reps_signed_closing(temporal, portal, auditor, client):
    gate = closed_by_a_rep(temporal, client)

    check = record_of(auditor, gate)["trail_check"]
    page = auditor.get(f"/audit/decisions/{gate.gate_id}/").content.decode()

    assert check["state"] == "matches", check
    assert check["signed"]["reviewer"] == "support" and check["signed"]["status"] == "approved"
    assert {"decided_by", "decided_by_id", "status", "reason", "decision_id"} <= set(check["checked"])
    assert 'role="alert"' not in page


def test_a_support_closing_edited_in_the_database_is_shown_as_such(temporal, portal, auditor, client):
    gate = closed_by_a_rep(temporal, client)
    make_user("manager", "support_rep")
    Gate.objects.filter(pk=gate.pk).update(decided_by="manager", reason="Conversation closed: all fine.")

    record = record_of(auditor, Gate.objects.get(pk=gate.pk))

    check = record["trail_check"]
    assert check["state"] == "differs"
    assert {d["name"] for d in check["differences"]} == {"decided_by", "reason"}
    assert record["human_decision"]["reviewer"] == "support"  # the trail's version is told


def test_every_column_of_a_closed_handoff_is_checked_against_the_run_s_own_record_of_it(
    temporal, portal, auditor, client
):
    """A conversation's result holds no gate, so only the signed closing's fields were compared:
    the subject, the AI's reason for the handoff, the times and the role could be edited under a
    "matches" (from the review). The run's own record of the closed gate, in the trail, is now."""
    gate = closed_by_a_rep(temporal, client)
    Gate.objects.filter(pk=gate.pk).update(
        subject="Customer asked to close their account",
        rationale="The customer threatened legal action.",
        decided_at=gate.decided_at + timedelta(hours=5),
        opened_at=gate.opened_at - timedelta(days=2),
        role="admin",
    )

    check = record_of(auditor, Gate.objects.get(pk=gate.pk))["trail_check"]

    assert check["state"] == "differs"
    assert {d["name"] for d in check["differences"]} == {
        "subject",
        "rationale",
        "decided_at",
        "opened_at",
        "role",
    }
    assert "the run's last snapshot of the gate" in check["statement"]


def test_a_close_the_run_refused_in_its_turn_is_not_a_closing_and_a_row_pointed_at_it_differs(
    settings, temporal, portal, auditor, client, monkeypatch
):
    alice, bob = make_user("alice", "support_rep"), make_user("bob", "support_rep")
    conversation_id, _ = handed_off(client)
    gate = projected_gate(temporal.client.get_workflow_handle(conversation_id))
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = 15
    publish = publishing.apply_snapshot

    def slow_publish(snapshot, chain=""):  # Alice's reply holds the conversation's turn meanwhile
        time.sleep(4)
        return publish(snapshot, chain)

    monkeypatch.setattr(publishing, "apply_snapshot", slow_publish)
    answers = {}

    def act(key, rep, action, text):
        answers[key] = conversation_rep_act(
            conversation_id=conversation_id, rep=rep, action=action, text=text, submission_id=uuid.uuid4()
        )
        connections.close_all()

    acts = [("reply", alice, REP_REPLY, "Looking into it."), ("alice", alice, REP_CLOSE, "Refund sent.")]
    acts.append(("bob", bob, REP_CLOSE, "All fine now, closing."))
    threads = [threading.Thread(target=act, args=args) for args in acts]
    for thread in threads:  # both closes reach their validators while the reply's turn runs
        thread.start()
        time.sleep(1.5 if thread is threads[0] else 0.5)
    for thread in threads:
        thread.join()
    monkeypatch.undo()
    temporal.run(temporal.client.get_workflow_handle(conversation_id).result(), timeout=30)

    assert {key: a.status for key, a in answers.items()} == {
        "reply": "accepted",
        "alice": "accepted",
        "bob": "refused",
    }
    entries = find_trail(conversation_id).audit.entries
    assert [
        e.data["update"]["rep"] for e in entries if e.kind == "decision" and e.data["action"] == REP_CLOSE
    ] == ["alice"]
    [refused] = [e for e in entries if e.kind == "refused"]
    assert refused.title.startswith("rep_close by bob refused by the run: ")
    row = Gate.objects.get(pk=gate.pk)
    assert record_of(auditor, row)["trail_check"]["state"] == "matches"

    bobs = refused.data["update"]
    Gate.objects.filter(pk=gate.pk).update(
        decided_by="bob",
        decided_by_id=bobs["rep_id"],
        decision_id=bobs["action_id"],
        reason=f"Conversation closed: {bobs['text']}",
    )
    check = record_of(auditor, Gate.objects.get(pk=gate.pk))["trail_check"]

    assert check["state"] == "differs"
    assert check["signed"]["reviewer"] == "alice"

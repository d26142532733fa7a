"""A support handoff is never stuck with someone who will not answer it (agents/support/handoff.py):
an admin's reply does not take the conversation, an admin (or a supervisor of the reps) releases
one its holder left, through a signed `rep_release` the workflow verifies and keeps in history,
and marking the holder absent releases it the same way. Real dev server; raw clients are refused."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError

from agents.framework.patches import IN_PATCH_SET
from agents.framework.types import ADMIN_ROLE, GateSnapshot
from agents.support import SUPPORT_AGENT
from agents.support.contract import (
    REP_ACTION_REFUSED,
    REP_CLOSE,
    REP_RELEASE,
    REP_REPLY,
    Handoff,
    RepAction,
    TurnReply,
)
from agents.support.handoff import claimed, expiry_due, handoff_gate, release_refusal, released
from agents.support.tools import tickets_for
from agents.support.workflow import ADMIN_REPLY_UNTAKEN
from reviewer_portal.inbox.models import Gate
from reviewer_portal.team.services import absence_mark
from reviewer_portal.trust.keys import generate
from tests.conftest import HISTORIES, logged_in, make_user, patch_markers, projected_gate, record_history
from tests.test_support_conversation import handed_off, say, tickets, transcript
from tests.test_support_rules import expired_gate, signed, start_pinned

__all__ = ["tickets"]  # the fixture

pytestmark = pytest.mark.once  # an agent on Temporal: one CI pass


def form() -> dict[str, str]:
    return {"submission_id": str(uuid.uuid4())}


def reply(client, conversation_id: str, text: str):
    return client.post(f"/conversations/{conversation_id}/reply/", {"text": text, **form()})


def release(client, conversation_id: str):
    return client.post(f"/conversations/{conversation_id}/release/", form(), headers={"HX-Request": "true"})


def held_by_repa(temporal, client) -> tuple[str, Gate]:
    """A handed-off conversation rep "repa" took by replying, and its gate as projected then."""
    conversation_id = handed_off(client)[0]
    projected_gate(temporal.client.get_workflow_handle(conversation_id))
    taken = reply(logged_in(make_user("repa", "support_rep")), conversation_id, "Ana here, one moment.")
    assert taken.status_code == 200, taken.content
    return conversation_id, projected_gate(temporal.client.get_workflow_handle(conversation_id), version=2)


def releases_in_history(temporal, conversation_id: str) -> list[RepAction]:
    """The `rep_release` Updates the run took: who released it, and why, as history keeps them."""

    async def read() -> list[RepAction]:
        client = temporal.client
        history = await client.get_workflow_handle(conversation_id).fetch_history()
        actions = []
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                request = event.workflow_execution_update_accepted_event_attributes.accepted_request
                if request.input.name == REP_RELEASE:
                    [action] = await client.data_converter.decode(request.input.args.payloads, [RepAction])
                    actions.append(action)
        return actions

    return temporal.run(read())


# An admin's reply -------------------------------------------------------------------------------


def test_an_admins_reply_leaves_the_handoff_untaken_and_a_rep_takes_it_with_theirs(temporal, portal, client):
    rep = logged_in(make_user("support", "support_rep"))
    admin = logged_in(make_user("root", superuser=True))
    conversation_id = handed_off(client)[0]
    handle = temporal.client.get_workflow_handle(conversation_id)
    projected_gate(handle)

    stepped_in = reply(admin, conversation_id, "A colleague will be with you shortly.")
    after_admin = Gate.objects.get(workflow_id=conversation_id)
    rep_page = rep.get(f"/conversations/{conversation_id}/").content.decode()
    taken = reply(rep, conversation_id, "Sam here, how can I help?")
    held = projected_gate(handle, version=2)

    assert stepped_in.status_code == 200
    assert (after_admin.status, after_admin.assignee) == ("pending", "")
    assert 'name="text"' in rep_page and "root has this conversation" not in rep_page
    assert taken.status_code == 200 and held.assignee == "support"
    assert ADMIN_REPLY_UNTAKEN in patch_markers(temporal, handle)
    record_history(temporal, handle, "support_admin_reply_left_untaken")


def test_a_handoff_only_an_admin_answered_still_expires_with_its_ticket(
    temporal, portal, client, portal_signing_key
):
    # Long enough for the admin to answer first on a loaded machine; the test waits it out.
    conversation = start_pinned(temporal, portal, sla_seconds=10)
    conversation_id = conversation[0]
    say(client, conversation, "Can I speak to a person, please?")
    action, update_id = signed(
        REP_REPLY,
        "A colleague will be with you shortly.",
        key=portal_signing_key,
        conversation_id=conversation_id,
        rep="root",
        rep_id="3",
        roles=(ADMIN_ROLE,),
    )
    handle = temporal.client.get_workflow_handle(conversation_id)
    temporal.run(handle.execute_update(REP_REPLY, action, id=update_id, result_type=TurnReply))
    gate = expired_gate(temporal, conversation_id)
    temporal.run(handle.result(), timeout=30)

    assert (gate.status, gate.assignee) == ("rejected", "")
    assert len(tickets_for(conversation_id)) == 1
    assert transcript(client, conversation)["status"] == "closed"


# Releasing a held conversation ------------------------------------------------------------------


def test_an_admin_releases_a_conversation_its_holder_left_and_another_rep_takes_it(temporal, portal, client):
    conversation_id, held = held_by_repa(temporal, client)
    handle = temporal.client.get_workflow_handle(conversation_id)
    rep_b = logged_in(make_user("repb", "support_rep"))
    admin = logged_in(make_user("root", superuser=True))
    page = f"/conversations/{conversation_id}/"

    admin_page = admin.get(page).content.decode()
    rep_b_page = rep_b.get(page).content.decode()
    released_answer = release(admin, conversation_id)
    free = projected_gate(handle, version=3)
    again = release(admin, conversation_id)  # a second admin's page, say, from before the release
    rep_b_after = rep_b.get(page).content.decode()
    taken = reply(rep_b, conversation_id, "Bob here, I have your conversation now.")
    retaken = projected_gate(handle, version=4)

    assert held.assignee == "repa"
    assert f'action="{page}release/"' in admin_page and "release/" not in rep_b_page
    assert "repa has this conversation" in rep_b_page
    assert released_answer.status_code == 200 and "Released" in released_answer.content.decode()
    # Free for any rep, and the untaken handoff's expiry counts again, from the release.
    assert (free.status, free.assignee, free.assignee_id) == ("pending", "", "")
    assert free.deadline > held.deadline
    assert again.status_code == 409 and "Nobody holds this conversation" in again.content.decode()
    assert 'name="text"' in rep_b_after
    assert taken.status_code == 200 and retaken.assignee == "repb"
    # The audit trail: who released it is in history, signed.
    [released_by] = releases_in_history(temporal, conversation_id)
    assert (released_by.rep, released_by.rep_roles) == ("root", [ADMIN_ROLE])
    assert released_by.signature is not None
    record_history(temporal, handle, "support_handoff_released_then_taken")


def test_a_rep_posting_the_release_form_is_refused_and_nothing_is_sent(temporal, portal, client):
    conversation_id, held = held_by_repa(temporal, client)
    rep_b = logged_in(make_user("repb", "support_rep"))
    holder = logged_in(User.objects.get(username="repa"))

    answers = [release(who, conversation_id) for who in (rep_b, holder)]

    assert [answer.status_code for answer in answers] == [403, 403]
    assert releases_in_history(temporal, conversation_id) == []
    gate = Gate.objects.get(workflow_id=conversation_id)
    assert (gate.assignee, gate.version) == ("repa", held.version)


def test_a_raw_client_release_unsigned_or_not_an_admins_is_refused_and_leaves_no_trace(
    temporal, portal, client, raw_client, portal_signing_key
):
    conversation_id, held = held_by_repa(temporal, client)
    handle = raw_client.get_workflow_handle(conversation_id)

    def as_admin(name: str = REP_RELEASE, **who):
        who = {"rep": "root", "rep_id": "3", "roles": (ADMIN_ROLE,), **who}
        return signed(name, "Released.", key=portal_signing_key, conversation_id=conversation_id, **who)

    unsigned = RepAction(text="Released.", rep="root", rep_id="3", rep_roles=[ADMIN_ROLE], action_id="a1")
    rogue = generate(key_id="rogue")
    attempts = {
        "unsigned": (unsigned, "a1#1"),
        "another key": signed(
            REP_RELEASE,
            "Released.",
            key=rogue,
            conversation_id=conversation_id,
            rep="root",
            roles=(ADMIN_ROLE,),
        ),
        "a rep": as_admin(rep="repb", rep_id="9", roles=("support_rep",)),
        "the holder": as_admin(rep="repa", rep_id=held.assignee_id, roles=("support_rep",)),
        "a reply's signature": as_admin(REP_REPLY),
        "a close's signature": as_admin(REP_CLOSE),
    }
    refusals = {}
    for name, (action, update_id) in attempts.items():
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            temporal.run(handle.execute_update(REP_RELEASE, action, id=update_id, result_type=TurnReply))
        refusals[name] = refused.value.cause

    assert {name: cause.type for name, cause in refusals.items()} == dict.fromkeys(
        attempts, REP_ACTION_REFUSED
    )
    assert "not signed by the portal" in refusals["unsigned"].message
    assert "does not trust (rogue)" in refusals["another key"].message
    for name in ("a rep", "the holder"):
        assert "Only an admin or a supervisor" in refusals[name].message, name
    for name in ("a reply's signature", "a close's signature"):
        assert "cannot be trusted" in refusals[name].message, name
    assert releases_in_history(temporal, conversation_id) == []  # refused by validators: not in history
    gate = Gate.objects.get(workflow_id=conversation_id)
    assert (gate.assignee, gate.version) == ("repa", held.version)


def test_marking_a_rep_absent_releases_the_conversation_they_hold(temporal, portal, client):
    conversation_id, held = held_by_repa(temporal, client)
    handle = temporal.client.get_workflow_handle(conversation_id)
    admin = make_user("root", superuser=True)

    _absence, outcomes = absence_mark(
        user=User.objects.get(username="repa"),
        marked_by=admin,
        reason="Off sick",
        until=None,
        submission_id=str(uuid.uuid4()),
    )
    free = projected_gate(handle, version=3)

    assert [(o.gate.gate_id, o.accepted, o.refusal) for o in outcomes] == [(held.gate_id, True, "")]
    assert (free.status, free.assignee) == ("pending", "")
    [released_by] = releases_in_history(temporal, conversation_id)
    assert (released_by.rep, released_by.text) == ("root", "repa is absent: Off sick")


def test_the_team_view_reports_the_absent_reps_conversation_released(temporal, portal, client):
    conversation_id, held = held_by_repa(temporal, client)
    admin = logged_in(make_user("root", superuser=True))

    page = admin.post("/team/absences/", {"username": "repa", "reason": "", **form()})

    assert page.status_code == 200
    row = page.content.decode().split(f'data-gate-id="{held.gate_id}"', 1)[1].split("</li>", 1)[0]
    assert "Done" in row
    assert projected_gate(temporal.client.get_workflow_handle(conversation_id), version=3).assignee == ""


# The rules, without a server --------------------------------------------------------------------


def test_who_may_release_a_handoff_and_what_a_release_and_an_admins_reply_change():
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    gate = handoff_gate(
        workflow_id="support-1",
        spec=SUPPORT_AGENT.pin(),
        customer_id="CUST-1",
        reason="r",
        offline=True,
        now=now,
    )

    def action(*roles: str, rep: str = "root", rep_id: str = "3") -> RepAction:
        return RepAction(text="t", rep=rep, rep_id=rep_id, rep_roles=list(roles), action_id="a")

    by_admin = claimed(gate, action(ADMIN_ROLE))
    by_rep = claimed(gate, action("support_rep", rep="repa", rep_id="7"))
    supervised: GateSnapshot = dataclasses.replace(by_rep, supervisors=["support_lead"])
    later = now + timedelta(hours=2)
    freed = released(by_rep, later)

    assert by_admin == gate  # an admin's reply takes nothing: the handoff still expires on time
    assert expiry_due(Handoff(reason="r", gate=by_admin)) == gate.deadline
    assert claimed(gate, action(ADMIN_ROLE), admin_takes=True).assignee == "root"  # before the patch
    assert (by_rep.assignee, expiry_due(Handoff(reason="r", gate=by_rep))) == ("repa", None)
    assert release_refusal(by_rep, action(ADMIN_ROLE)) is None
    assert release_refusal(supervised, action("support_lead", rep="lee")) is None
    for refused in (action("support_rep", rep="repa", rep_id="7"), action("support_rep"), action()):
        assert "Only an admin or a supervisor" in (release_refusal(by_rep, refused) or "")
    assert "Nobody holds" in (release_refusal(gate, action(ADMIN_ROLE)) or "")
    assert (freed.assignee, freed.assignee_id, freed.version) == ("", "", by_rep.version + 1)
    assert freed.deadline == later + timedelta(seconds=gate.sla_seconds)
    assert expiry_due(Handoff(reason="r", gate=freed)) == freed.deadline


def test_the_new_paths_and_the_one_before_the_fix_have_recorded_histories():
    """tests/test_replay.py replays every recording; these stand for this change's paths."""
    names = {path.stem for path in HISTORIES.glob("support_*.json")}
    assert ADMIN_REPLY_UNTAKEN not in IN_PATCH_SET  # the support workflow's own patch, asked by name
    assert {
        # Recorded before the fix: an admin's reply took the handoff, and replays that way.
        "support_admin_reply_took_handoff_before_fix",
        # Since patch support-admin-reply-untaken: the admin's reply took nothing.
        "support_admin_reply_left_untaken",
        # rep_release: an admin released the holder's conversation and another rep took it.
        "support_handoff_released_then_taken",
    } <= names

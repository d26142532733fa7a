"""What a page missed between being rendered and its socket opening (issue 12, left over from the
live-push review): a gate that changed in between was pushed to a socket not there yet, and a
gate's page showed the old state until the reviewer acted on it. The page now gives its socket the
server's stamp of its rendering, and the socket's first messages are the hints it missed."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from reviewer_portal.inbox.models import Gate
from reviewer_portal.live import catch_up
from reviewer_portal.live.catch_up import page_stamp
from reviewer_portal.notices.services import notification_create_for_user
from tests.conftest import logged_in, make_user
from tests.test_live import WAIT, adviser_gate, announce, communicator_for, gate_row, layer_config
from tests.test_notices import event as notice_event

__all__ = ["layer_config"]  # the fixture, shared with tests/test_live.py


async def next_gate(ws: WebsocketCommunicator) -> dict:
    return await ws.receive_json_from(timeout=WAIT)


def test_a_gate_changed_before_the_socket_opened_is_the_sockets_first_message(layer_config):
    officer = make_user("officer", "credit_officer")
    rendered = page_stamp(timezone.now())
    earlier = gate_row("credit_officer")  # already on the page: changed before its rendering
    Gate.objects.filter(pk=earlier.pk).update(updated_at=timezone.now() - timedelta(minutes=2))
    missed = gate_row("credit_officer")  # its push went to no socket: none was open
    adviser_gate()  # another role's: never the officer's to hear
    ws = communicator_for(officer, query=f"?since={rendered}")

    async def scenario() -> None:
        assert (await ws.connect())[0]
        assert await next_gate(ws) == {
            "gate_id": missed.gate_id, "status": "pending", "role": "credit_officer", "version": 1,
        }  # fmt: skip
        later = await sync_to_async(gate_row)("credit_officer")
        await sync_to_async(announce)(later)
        assert (await next_gate(ws))["gate_id"] == later.gate_id  # nothing else came before it
        await ws.disconnect()

    async_to_sync(scenario)()


@pytest.mark.parametrize(
    "fields",
    [
        {"role": "senior_credit_officer", "escalation_level": 1},  # moved on: the officer's inbox drops it
        {
            "role": "licensed_adviser",
            "agent": "advice",
            "kind": "advice_signoff",
            "supervisors": ["credit_officer"],
        },
    ],
    ids=["escalated-from-the-role", "supervised-by-the-role"],
)
def test_a_gate_of_another_role_that_the_role_still_hears_is_caught_up_too(transactional_db, fields):
    officer = make_user("officer", "credit_officer")
    ws = communicator_for(officer, query=f"?since={page_stamp(timezone.now())}")
    missed = gate_row(**fields)

    async def scenario() -> None:
        assert (await ws.connect())[0]
        assert (await next_gate(ws))["gate_id"] == missed.gate_id
        await ws.disconnect()

    async_to_sync(scenario)()


def test_a_page_too_old_or_with_too_many_changes_since_re_reads_everything(transactional_db, monkeypatch):
    officer = make_user("officer", "credit_officer")
    monkeypatch.setattr(catch_up, "LIMIT", 2)
    old_page = communicator_for(officer, query=f"?since={page_stamp(timezone.now() - timedelta(hours=1))}")
    busy_page = communicator_for(officer, query=f"?since={page_stamp(timezone.now())}")
    for _ in range(3):
        gate_row("credit_officer")

    async def first_message(ws: WebsocketCommunicator) -> dict:
        assert (await ws.connect())[0]
        try:
            return await next_gate(ws)
        finally:
            await ws.disconnect()

    assert async_to_sync(first_message)(old_page) == {"catch_up": "all"}
    assert async_to_sync(first_message)(busy_page) == {"catch_up": "all"}


def test_how_busy_other_roles_are_is_not_told_by_the_catch_up(transactional_db, monkeypatch):
    """The limit counted every role's changes: whether a socket was told "re-read everything" or its
    own hints gave away, to anyone signed in, how many gates of other roles changed since a stamp
    of their choosing (found by the attacker's review)."""
    officer = make_user("officer", "credit_officer")
    monkeypatch.setattr(catch_up, "LIMIT", 2)
    ws = communicator_for(officer, query=f"?since={page_stamp(timezone.now())}")
    for _ in range(3):
        adviser_gate()
    mine = gate_row("credit_officer")

    async def scenario() -> None:
        assert (await ws.connect())[0]
        assert (await next_gate(ws))["gate_id"] == mine.gate_id  # its own hint, not "all"
        sentinel = await sync_to_async(gate_row)("credit_officer")
        await sync_to_async(announce)(sentinel)
        assert (await next_gate(ws))["gate_id"] == sentinel.gate_id
        await ws.disconnect()

    async_to_sync(scenario)()


ODD_STAMPS = [
    "", "?since=", "?since=-5", "?since=1e12", "?since=" + "9" * 40, "?since=%D9%A3", "?since=1%00",
    "?since=999999999999999",  # past the year 9999: not a time at all
]  # fmt: skip


@pytest.mark.parametrize("query", [*ODD_STAMPS, "future"])
def test_no_stamp_a_made_up_one_or_one_from_the_future_catches_up_nothing(transactional_db, query):
    officer = make_user("officer", "credit_officer")
    gate_row("credit_officer")
    if query == "future":
        query = f"?since={page_stamp(timezone.now() + timedelta(days=1))}"
    ws = communicator_for(officer, query=query)

    async def scenario() -> None:
        assert (await ws.connect())[0]
        sentinel = await sync_to_async(gate_row)("credit_officer")
        await sync_to_async(announce)(sentinel)
        assert (await next_gate(ws))["gate_id"] == sentinel.gate_id  # the first message: nothing before
        await ws.disconnect()

    async_to_sync(scenario)()


def test_a_page_carries_the_servers_stamp_of_its_rendering(transactional_db):
    officer = make_user("officer", "credit_officer")
    before = page_stamp(timezone.now())
    page = logged_in(officer).get("/").content.decode()
    after = page_stamp(timezone.now())
    stamp = int(re.search(r'id="live-status"[^>]*data-since="(\d+)"', page).group(1))
    assert before <= stamp <= after


def test_a_notice_stored_before_the_socket_opened_rings_the_bell_and_another_users_does_not(
    transactional_db,
):
    officer, colleague = make_user("officer", "credit_officer"), make_user("colleague", "credit_officer")
    stamp = f"?since={page_stamp(timezone.now())}"
    mine, theirs = communicator_for(officer, query=stamp), communicator_for(colleague, query=stamp)
    notification_create_for_user(user=officer, event=notice_event("assigned-before-the-socket"))

    async def scenario() -> None:
        assert (await mine.connect())[0] and (await theirs.connect())[0]
        assert await mine.receive_json_from(timeout=WAIT) == {"notices": "changed"}
        sentinel = await sync_to_async(gate_row)("credit_officer")
        await sync_to_async(announce)(sentinel)
        assert (await theirs.receive_json_from(timeout=WAIT))["gate_id"] == sentinel.gate_id  # first
        await mine.disconnect()
        await theirs.disconnect()

    async_to_sync(scenario)()

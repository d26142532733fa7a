"""The portal under a team (issue 12): a poll that finds nothing new is a "204" that reads no row,
a change of the projection makes the next poll re-read, and the cached queue counts follow every
change. Changes go through the projection's own writer (gate_apply_snapshot), as the worker's."""

from __future__ import annotations

import dataclasses
import html
import re

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.framework.types import GateSnapshot
from reviewer_portal.inbox.freshness import VERSIONS_CACHE, bump_roles, role_versions
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.projection import gate_apply_snapshot
from tests import actions
from tests.conftest import logged_in, make_user, same_minute_for
from tests.test_gate_rules import gate

POLL = {"HX-Request": "true", "HX-Target": "gate-table", "X-Portal-Background": "1"}
TAG = re.compile(r'<div id="gate-table"[^>]* data-inbox-version="([^"]+)"')
ROW = re.compile(r'<tr data-gate-url="[^"]+" data-gate-id="([^"]+)"')


@pytest.fixture(autouse=True)
def pushes_in_memory(settings) -> None:
    """The pushes these changes make go to a channel layer in memory. On the database layer they
    waited on this test's open transaction (SQLite's one writer) for their 5 s timeout, and the
    suite for each of them as a test ended."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def publish(snapshot: GateSnapshot, on_commit) -> None:
    """Write the projection as the worker does, and run what follows its commit (bump, push)."""
    with on_commit(execute=True):
        assert gate_apply_snapshot(snapshot=snapshot)


def loan(n: int, **fields) -> GateSnapshot:
    now = timezone.now()
    return gate(
        gate_id=f"loan-{n}--g1",
        workflow_id=f"loan-{n}",
        subject=f"Applicant {n}: 10,000 over 36 months",
        opened_at=now,
        deadline=now + timezone.timedelta(hours=1),
        **fields,
    )


def tag_of(response) -> str:
    found = TAG.search(response.content.decode())
    assert found, response.content.decode()[:500]
    return html.unescape(found.group(1))


def counts(response) -> dict[str, int]:
    return {
        label: int(n)
        for label, n in re.findall(r'>([^<>]+) <span class="count">(\d+)<', response.content.decode())
    }


def poll(client: Client, tag: str, query: str = "/"):
    return client.get(query, headers={**POLL, "If-None-Match": tag})


@pytest.fixture
def officer(db):
    return make_user("officer", "credit_officer")


def test_an_unchanged_poll_is_a_204_that_reads_no_gate_row(officer, django_capture_on_commit_callbacks):
    same_minute_for(5)  # a tag holds for its minute
    publish(loan(1), django_capture_on_commit_callbacks)
    client = logged_in(officer)
    tag = tag_of(client.get("/"))

    with CaptureQueriesContext(connection) as queries:
        unchanged = poll(client, tag)

    assert unchanged.status_code == 204 and unchanged.content == b""
    assert unchanged["ETag"] == tag
    on_gates = [q["sql"] for q in queries.captured_queries if '"inbox_gate"' in q["sql"]]
    # Only the newest write's time, one step down its index: no row, no count, no page.
    assert len(on_gates) == 1 and "MAX(" in on_gates[0].upper(), on_gates
    assert len(queries.captured_queries) <= 5, [q["sql"] for q in queries.captured_queries]


def test_a_projection_change_makes_the_next_poll_return_the_new_rows(
    officer, django_capture_on_commit_callbacks
):
    same_minute_for(5)  # a tag holds for its minute
    publish(loan(1), django_capture_on_commit_callbacks)
    client = logged_in(officer)
    tag = tag_of(client.get("/"))
    assert poll(client, tag).status_code == 204

    publish(loan(2), django_capture_on_commit_callbacks)
    changed = poll(client, tag)

    assert changed.status_code == 200
    assert ROW.findall(changed.content.decode()) == ["loan-1--g1", "loan-2--g1"]
    assert tag_of(changed) != tag
    assert poll(client, tag_of(changed)).status_code == 204  # and then nothing new again


def test_queue_counts_follow_claims_and_decisions(db, django_capture_on_commit_callbacks):
    officer = make_user("officer", "credit_officer", "senior_credit_officer")
    for n in (1, 2, 3):
        publish(loan(n), django_capture_on_commit_callbacks)
    client = logged_in(officer)
    assert counts(client.get("/")) == {
        "All my queues": 3,
        "Credit officer": 3,
        "Senior credit officer": 0,
        "Assigned to me": 0,
    }

    claimed = loan(1, version=2, assignee="officer", assignee_id=actions.person_id("officer"))
    publish(claimed, django_capture_on_commit_callbacks)
    assert counts(client.get("/")) == {
        "All my queues": 3,
        "Credit officer": 3,
        "Senior credit officer": 0,
        "Assigned to me": 1,
    }

    decided = dataclasses.replace(claimed, version=3, status="approved", decided_by="officer")
    escalated = loan(2, version=2, role="senior_credit_officer", escalation_level=1)
    publish(decided, django_capture_on_commit_callbacks)
    publish(escalated, django_capture_on_commit_callbacks)
    after = client.get("/", headers=POLL)  # the poll's table brings the tabs along, out of band
    assert counts(after) == {
        "All my queues": 2,
        "Credit officer": 1,
        "Senior credit officer": 1,
        "Assigned to me": 0,
    }
    assert sorted(ROW.findall(after.content.decode())) == ["loan-2--g1", "loan-3--g1"]


def test_a_role_the_change_left_re_reads_too(db, django_capture_on_commit_callbacks):
    """A gate escalated away from a queue must leave that queue's tables, though it is no longer
    of that role: the roles it left are bumped too."""
    officer = make_user("officer", "credit_officer")
    publish(loan(1), django_capture_on_commit_callbacks)
    client = logged_in(officer)
    tag = tag_of(client.get("/"))

    publish(
        loan(1, version=2, role="senior_credit_officer", escalation_level=1),
        django_capture_on_commit_callbacks,
    )
    moved = poll(client, tag)

    assert moved.status_code == 200 and ROW.findall(moved.content.decode()) == []


def test_a_row_written_without_a_bump_still_changes_the_tag(officer, django_capture_on_commit_callbacks):
    publish(loan(1), django_capture_on_commit_callbacks)
    client = logged_in(officer)
    tag = tag_of(client.get("/"))

    row = Gate.objects.get(gate_id="loan-1--g1")
    row.subject = "Renamed by an administrator"
    row.save()  # no projection writer, no bump: the newest write's time moved on

    changed = poll(client, tag)
    assert changed.status_code == 200 and "Renamed by an administrator" in changed.content.decode()


def test_versions_lost_from_the_cache_make_the_poll_re_read(officer, django_capture_on_commit_callbacks):
    publish(loan(1), django_capture_on_commit_callbacks)
    client = logged_in(officer)
    tag = tag_of(client.get("/"))

    caches[VERSIONS_CACHE].clear()  # evicted, flushed, a new Redis

    assert poll(client, tag).status_code == 200


def test_the_tag_belongs_to_one_user_and_one_query(db, django_capture_on_commit_callbacks):
    publish(loan(1), django_capture_on_commit_callbacks)
    officer, colleague = make_user("officer", "credit_officer"), make_user("colleague", "credit_officer")
    tag = tag_of(logged_in(officer).get("/"))

    assert poll(logged_in(colleague), tag).status_code == 200
    assert poll(logged_in(officer), tag, "/?sort=-amount").status_code == 200
    # A page the user asks for is never a 204, whatever it sends.
    assert logged_in(officer).get("/", headers={"If-None-Match": tag}).status_code == 200


def test_the_projection_bumps_the_roles_a_change_concerns_and_those_alone(
    db, django_capture_on_commit_callbacks
):
    roles = ["credit_officer", "senior_credit_officer", "licensed_adviser"]
    publish(loan(1), django_capture_on_commit_callbacks)
    before = role_versions(roles)

    publish(
        loan(1, version=2, role="senior_credit_officer", escalation_level=1),
        django_capture_on_commit_callbacks,
    )
    after = role_versions(roles)

    assert after["credit_officer"] != before["credit_officer"]  # the role it left
    assert after["senior_credit_officer"] != before["senior_credit_officer"]
    assert after["licensed_adviser"] == before["licensed_adviser"]


def test_a_bump_alone_makes_the_poll_re_read_and_only_for_its_roles(
    officer, django_capture_on_commit_callbacks
):
    """What the newest write's time misses (a write that commits after a later-stamped one) the
    version catches: a bump with no new row time still re-reads."""
    same_minute_for(5)  # a tag holds for its minute
    publish(loan(1), django_capture_on_commit_callbacks)
    client = logged_in(officer)
    tag = tag_of(client.get("/"))

    bump_roles(["licensed_adviser"])
    assert poll(client, tag).status_code == 204
    bump_roles(["credit_officer"])
    assert poll(client, tag).status_code == 200

"""Every request reads its session and the user's roles with one plain statement each
(reviewer_portal/accounts/session_store.py, roles.py): the same rows Django's ORM read, at a tenth
of the CPU. What a signed-in reviewer may do must not change with it: an expired, deleted or
forged session is no session, and a role given or taken away counts from the next request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reviewer_portal.accounts.roles import roles_of
from reviewer_portal.accounts.session_store import SessionStore
from tests.conftest import logged_in, make_user

INBOX_POLL = {"HX-Request": "true", "X-Portal-Background": "1"}


@pytest.fixture
def officer(db):
    return make_user("officer", "credit_officer")


def test_a_session_reads_as_djangos_own_store_reads_it(officer):
    client = logged_in(officer)
    key = client.cookies["sessionid"].value

    assert SessionStore(key).load() == DjangoSessionStore(key).load()
    assert SessionStore(key).load()["_auth_user_id"] == str(officer.pk)


def test_an_expired_session_is_no_session_and_its_key_is_not_kept(officer):
    client = logged_in(officer)
    key = client.cookies["sessionid"].value
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))

    store = SessionStore(key)
    assert store.load() == {} and store.session_key is None
    assert client.get("/", secure=True).status_code == 302  # to the login page


def test_a_session_deleted_elsewhere_signs_the_next_request_out(officer):
    client = logged_in(officer)
    assert client.get("/", secure=True).status_code == 200
    Session.objects.all().delete()  # signed out in another process, or `clearsessions`

    assert client.get("/", secure=True).status_code == 302


@pytest.mark.parametrize(
    "cookie",
    [
        "' OR '1'='1",
        "x' UNION SELECT session_data FROM django_session --",
        "short",
        "a" * 10_000,
        "ke\u200by\u202e" * 8,
        "nul\x00" * 4,
        "aaaaaaa\x00",
        "A" * 32,
        "\udcff" * 10,
    ],
)
def test_a_forged_session_cookie_is_no_session_and_no_error(officer, cookie):
    logged_in(officer)  # a live session exists for the forgery to reach for
    client = Client()
    # As a server hands a cookie's bytes to Django: UTF-8 on the wire, read as Latin-1 (so never
    # a lone surrogate, which neither Django's store nor this one could send to the database).
    as_received = cookie.encode("utf-8", "surrogatepass").decode("latin-1")
    client.cookies["sessionid"] = as_received

    answer = client.get("/", secure=True, headers=INBOX_POLL)

    # No session: the poll is told to load the login page whole (htmx would swap a redirect's
    # page into the table).
    assert answer.status_code == 204 and answer["HX-Redirect"].startswith("/accounts/login/?next=")
    assert SessionStore(as_received).load() == {}


def test_a_role_given_or_taken_counts_from_the_next_request(officer):
    officer.refresh_from_db()
    assert roles_of(officer) == {"credit_officer"}
    auditors = Group.objects.get_or_create(name="auditor")[0]
    officer.groups.add(auditors)
    given = type(officer).objects.get(pk=officer.pk)  # the next request's user
    assert roles_of(given) == {"credit_officer", "auditor"}
    officer.groups.remove(auditors, Group.objects.get(name="credit_officer"))
    taken = type(officer).objects.get(pk=officer.pk)

    assert roles_of(taken) == set()
    assert roles_of(given) == {"credit_officer", "auditor"}  # kept for the request it was read in


def test_a_group_named_admin_gives_no_admin_role_and_another_users_groups_are_not_read(officer):
    other = make_user("other", "senior_credit_officer", "auditor")
    officer.groups.add(Group.objects.get_or_create(name="admin")[0])

    assert roles_of(type(officer).objects.get(pk=officer.pk)) == {"credit_officer"}
    assert roles_of(type(other).objects.get(pk=other.pk)) == {"senior_credit_officer", "auditor"}


def test_an_unchanged_poll_reads_its_session_and_roles_with_one_plain_statement_each(officer):
    client = logged_in(officer)
    with CaptureQueriesContext(connection) as poll:
        client.get("/", secure=True, headers=INBOX_POLL)

    statements = [q["sql"] for q in poll.captured_queries]
    assert sum(s.startswith("SELECT session_data FROM") for s in statements) == 1
    assert sum(s.startswith("SELECT g.name FROM") for s in statements) == 1
    assert not [s for s in statements if '"django_session"."session_key"' in s]  # not the ORM's


@pytest.mark.parametrize(
    "key", ["aaaaaaa\x00", "aaaaaaaa\x00", "A" * 32, "a" * 41, "aaaaaaa", "abc-defgh", "abcdefgh\n", " " * 10]
)
def test_a_key_django_could_not_have_made_is_no_session_and_never_reaches_the_database(officer, key):
    """Django makes keys of lowercase letters and digits, at most the column's 40. Anything else
    is not looked up: a NUL in it made PostgreSQL refuse the statement (a 500, with Django's own
    store too)."""
    store = SessionStore(key)
    with CaptureQueriesContext(connection) as reads:
        loaded = store.load()

    assert store.session_key is None and loaded == {}
    assert reads.captured_queries == []


@pytest.mark.parametrize(
    "expires_in",
    [
        timedelta(hours=-4),
        timedelta(microseconds=-1),
        timedelta(0),
        timedelta(microseconds=1),
        timedelta(hours=4),
    ],
)
def test_a_session_expires_as_djangos_store_says_at_every_offset_in_another_time_zone(
    officer, settings, monkeypatch, expires_in
):
    """The clock stopped, the portal's zone five hours from UTC: the lean read and Django's agree
    on whether a session has expired, to the microsecond, on either database."""
    settings.TIME_ZONE = "America/New_York"
    key = logged_in(officer).cookies["sessionid"].value
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    Session.objects.filter(session_key=key).update(expire_date=now + expires_in)

    lean, django = SessionStore(key).load(), DjangoSessionStore(key).load()

    assert lean == django
    assert bool(lean) is (expires_in > timedelta(0))

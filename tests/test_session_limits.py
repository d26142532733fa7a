"""Where a reviewer signed out by the session limits lands after logging in again: the page they
were on, its query whole, and never a URL that answers only POST (a decision form sent after the
idle limit used to bring them back to a 405). htmx requests keep their HX-Redirect."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from reviewer_portal.accounts.session_limits import LAST_ACTIVE
from reviewer_portal.inbox.models import ActionAttempt
from tests.conftest import logged_in, make_user

PASSWORD = "correct horse battery staple"
GATE = "/gates/loan-test-0123456789ab--g1/"


@pytest.fixture
def officer(db):
    user = make_user("officer", "credit_officer")
    user.set_password(PASSWORD)
    user.save()
    return user


def idle_too_long(client: Client, settings) -> None:
    session = client.session
    session[LAST_ACTIVE] = time.time() - settings.SESSION_IDLE_SECONDS - 1
    session.save()


def returns_to(login_url: str) -> str:
    """The `next` the login page was given, as the login form reads it back."""
    assert login_url.startswith("/accounts/login/?"), login_url
    [next_page] = parse_qs(urlsplit(login_url).query)["next"]
    return next_page


def log_in_again(client: Client, login_url: str):
    client.get(login_url)
    return client.post(login_url, {"username": "officer", "password": PASSWORD})


def test_a_page_asked_for_after_the_idle_limit_comes_back_with_its_whole_query(officer, settings):
    """The query used to be pasted unencoded into `next`: all after its first `&` was lost."""
    client = logged_in(officer)
    client.get("/")
    idle_too_long(client, settings)
    page = "/?q=Ana+Lima&agent=loans&sort=deadline&page=2"

    signed_out = client.get(page)
    back = log_in_again(client, signed_out["Location"])

    assert signed_out.status_code == 302 and returns_to(signed_out["Location"]) == page
    assert back.status_code == 302 and back["Location"] == page


@pytest.mark.parametrize(
    ("posted_to", "referer", "expected"),
    [
        # The page the form was on, query and all.
        (f"{GATE}decide/", f"http://testserver{GATE}?tab=case", f"{GATE}?tab=case"),
        ("/bulk/", "http://testserver/?agent=loans&risk=low", "/?agent=loans&risk=low"),
        # No Referer, one from another site, or one the portal cannot show again (itself a page
        # answering a POST, or no page at all): the page the POST belongs to.
        (f"{GATE}decide/", None, GATE),
        (f"{GATE}claim/", "https://evil.example/gates/x/", GATE),
        (f"{GATE}decide/", f"http://testserver{GATE}decide/", GATE),
        ("/team/absences/present/", "http://testserver/team/gates/", "/team/"),
        ("/notifications/read/", "http://testserver/no/such/page/", "/notifications/"),
    ],
)
def test_a_form_posted_after_the_idle_limit_returns_to_a_page_never_to_a_post_only_url(
    officer, settings, posted_to, referer, expected
):
    client = logged_in(officer)
    client.get("/")
    idle_too_long(client, settings)

    signed_out = client.post(posted_to, {"reason": "x"}, headers={"Referer": referer} if referer else {})

    assert signed_out.status_code == 302 and returns_to(signed_out["Location"]) == expected


def test_a_decision_sent_after_the_idle_limit_is_not_made_and_login_leads_back_to_the_gate(
    loan_gate, settings
):
    """End to end on a real gate: the form's POST is dropped (nothing sent to the workflow) and,
    logged in again, the reviewer is on the gate page (it used to be a 405 at /decide/)."""
    _, gate = loan_gate
    officer = make_user("officer", "credit_officer")
    officer.set_password(PASSWORD)
    officer.save()
    client = logged_in(officer)
    page = f"/gates/{gate.gate_id}/"
    assert client.get(page).status_code == 200
    idle_too_long(client, settings)

    signed_out = client.post(
        f"{page}decide/",
        {"decision": "approve", "reason": "Affordable."},
        headers={"Referer": f"http://testserver{page}"},
    )
    back = log_in_again(client, signed_out["Location"])

    assert signed_out.status_code == 302 and returns_to(signed_out["Location"]) == page
    assert not ActionAttempt.objects.filter(gate__pk=gate.pk).exists()
    assert back["Location"] == page and client.get(back["Location"]).status_code == 200


def test_an_htmx_request_after_the_idle_limit_keeps_its_hx_redirect_back_to_the_page_shown(officer, settings):
    """htmx fetches part of a page: the browser goes to the login page (HX-Redirect, as before),
    and from there to the page it showed (HX-Current-URL), not to the part nor to the bare inbox."""
    client = logged_in(officer)
    client.get("/")
    idle_too_long(client, settings)

    signed_out = client.post(
        f"{GATE}decide/",
        {"decision": "approve"},
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver{GATE}?tab=case&x=1"},
    )

    assert signed_out.status_code == 204 and "Location" not in signed_out
    assert returns_to(signed_out["HX-Redirect"]) == f"{GATE}?tab=case&x=1"


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_a_form_posted_with_its_session_gone_returns_to_its_page_after_logging_in(db, officer, htmx):
    """Django's own session expiry, or a sign-out in another tab: `login_required` answers the POST
    with the login page, whose `next` was the POST-only URL (a 405 after logging in), and htmx
    swapped the login page into the panel. Now: back to the page the form was sent from, and htmx
    loads the login page whole. Nothing was recorded."""
    client = Client()  # no session at all
    headers = {"Referer": f"http://testserver{GATE}"}
    if htmx:
        headers |= {"HX-Request": "true", "HX-Current-URL": f"http://testserver{GATE}"}

    answer = client.post(f"{GATE}annotate/", {"text": "Called the applicant."}, headers=headers)

    if htmx:
        assert answer.status_code == 204 and returns_to(answer["HX-Redirect"]) == GATE
    else:
        assert answer.status_code == 302 and returns_to(answer["Location"]) == GATE
    assert not ActionAttempt.objects.exists()


def test_signing_out_and_a_page_asked_for_signed_out_are_as_they_were(db, officer):
    page = Client().get("/?q=Ana")
    assert page.status_code == 302 and returns_to(page["Location"]) == "/?q=Ana"
    client = logged_in(officer)
    out = client.post("/accounts/logout/")
    assert out.status_code == 302 and "next=" not in out["Location"]

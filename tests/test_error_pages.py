"""Styled 403, 404 and 500 pages (DEBUG is off in tests, as in production): each says what
happened and what to do next, and a gate the reviewer may not open reads exactly like one that
does not exist."""

from __future__ import annotations

import re

import pytest
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.test import Client, override_settings
from django.urls import include, path

from tests.conftest import logged_in, make_user
from tests.test_inbox import make_gate

pytestmark = pytest.mark.django_db


def fails(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a view")


# This module is also the URLconf of the 500 test: the portal's URLs plus a view that fails.
urlpatterns = [path("fails/", fails), path("", include("reviewer_portal.urls"))]


def text_of(response) -> str:
    """The page's text, without the per-request CSRF token, the stamp of its rendering (for the
    live socket's catch-up) and whitespace runs."""
    html = response.content.decode()
    html = re.sub(
        r'"X-CSRFToken": "[^"]*"|name="csrfmiddlewaretoken" value="[^"]*"|data-since="\d+"', "", html
    )
    return re.sub(r"\s+", " ", html)


def test_a_gate_of_another_role_reads_exactly_like_one_that_does_not_exist():
    compliance_gate = make_gate(role="compliance_reviewer", agent="regulatory", kind="finding")
    officer = logged_in(make_user("officer", "credit_officer"))

    hidden = officer.get(f"/gates/{compliance_gate.gate_id}/")
    missing = officer.get(f"/gates/{compliance_gate.gate_id.replace('--g1', '--g9')}/")

    assert hidden.status_code == missing.status_code == 404
    assert text_of(hidden) == text_of(missing)  # nothing tells the two apart
    page = text_of(hidden)
    assert "No such gate, or you may not open it." in page
    assert 'href="/">Back to the inbox</a>' in page
    assert "ask your administrator for the role" in page
    assert 'rel="stylesheet" href="/static/css/portal.css"' in page  # the portal's look, its header
    assert "officer" in page  # signed in: the header shows who


def test_an_unknown_address_gets_the_styled_404_without_internals():
    response = logged_in(make_user("officer", "credit_officer")).get("/no/such/page/")
    assert response.status_code == 404
    page = text_of(response)
    assert "There is no page at this address, or you may not open it." in page
    assert "Resolver404" not in page and "urlpatterns" not in page.lower()


def test_a_refused_page_says_why_and_whom_to_ask():
    response = logged_in(make_user("nobody")).get("/dashboard/")
    assert response.status_code == 403
    page = text_of(response)
    assert "You may not open this page" in page
    assert "The dashboard is for reviewers and auditors." in page
    assert "ask your administrator for the role it needs" in page
    assert 'href="/">Back to the inbox</a>' in page


@override_settings(ROOT_URLCONF=__name__)
def test_a_server_error_gets_the_standalone_500_page():
    client = Client(raise_request_exception=False)
    client.force_login(make_user("officer", "credit_officer"))
    response = client.get("/fails/")
    assert response.status_code == 500
    page = text_of(response)
    assert "Something went wrong on our side" in page
    assert "open the gate again to see its state" in page
    assert 'href="/">Back to the inbox</a>' in page
    assert "a bug in a view" not in page  # no internals


def test_the_500_page_renders_without_a_request_or_the_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        html = loader.get_template("500.html").render()  # as Django's server_error renders it
    assert "Something went wrong on our side" in html and "portal.css" in html


def test_a_form_without_its_csrf_token_gets_a_styled_page_and_changes_nothing():
    officer = make_user("officer", "credit_officer")
    client = Client(enforce_csrf_checks=True)
    client.force_login(officer)
    gate = make_gate()
    response = client.post(f"/gates/{gate.gate_id}/annotate/", {"text": "a note"})
    assert response.status_code == 403
    page = text_of(response)
    assert "This form has expired" in page and "reload the page and send the form again" in page
    assert 'rel="stylesheet" href="/static/css/portal.css"' in page
    assert "CSRF verification failed" not in page  # Django's bare page
    assert gate.attempts.count() == 0

"""No response to a signed-in user is kept by the browser: gate pages, audit trails and their
JSON exports carry customer data, which the disk cache and the back/forward cache used to keep,
so Back after signing out (or being signed out) showed them on a shared desk PC. Every such
response now says `Cache-Control: no-store, private`: pages, htmx partials, JSON, error pages and
what middleware answers (a refused CSRF token, a missing slash); and a customer's chat, which is
theirs though they are no portal user. Static files and anonymous pages keep their headers."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings

from reviewer_portal.accounts.no_store import NoStoreMiddleware
from reviewer_portal.conversations.customers import customer_assertion
from reviewer_portal.inbox.models import Gate
from tests.conftest import logged_in, make_user
from tests.test_archive import decided_loan, make_user_once


def no_store(response) -> bool:
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    return {"no-store", "private"} <= directives


def test_every_response_to_a_signed_in_user_says_no_store(temporal, portal):
    handle = decided_loan(temporal, portal)
    gate = Gate.objects.get(workflow_id=handle.id)
    officer = logged_in(make_user_once("officer", "credit_officer"))
    auditor = logged_in(make_user("auditor", "auditor"))
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(make_user_once("officer", "credit_officer"))
    customer = Client()  # not a portal user: the session holds their conversation's token
    started = customer.post("/support/chat/", {"assertion": customer_assertion("CUST-2001")})

    responses = {
        "inbox": officer.get("/"),
        "inbox, htmx": officer.get("/", headers={"HX-Request": "true"}),
        "gate page": officer.get(f"/gates/{gate.gate_id}/"),
        "audit trail": auditor.get(f"/audit/{handle.id}/"),
        "export": auditor.get(f"/audit/{handle.id}/export.json"),
        "AI Act record": auditor.get(f"/audit/decisions/{gate.gate_id}/"),
        "AI Act record, JSON": auditor.get(f"/audit/decisions/{gate.gate_id}.json"),
        "403 page": officer.get(f"/audit/{handle.id}/export.json"),
        "404 page": officer.get("/no/such/page/"),
        "CSRF refused": strict.post("/bulk/", {"decision": "approve"}),
        "slash added": auditor.get(f"/audit/{handle.id}"),
        "customer's chat": customer.get(started["Location"]),
    }

    statuses = {name: response.status_code for name, response in responses.items()}
    assert statuses == {
        **dict.fromkeys(list(responses)[:7], 200),
        "403 page": 403,
        "404 page": 404,
        "CSRF refused": 403,
        "slash added": 301,
        "customer's chat": 200,
    }
    assert [name for name, response in responses.items() if not no_store(response)] == []


@pytest.mark.django_db
def test_anonymous_pages_and_static_files_keep_their_own_headers():
    """Anonymous responses are left as they were: a page not found carries no Cache-Control, the
    login page Django's own (never_cache). Static files keep WhiteNoise's, for a signed-in user
    too: served here from the source folders as in development (max-age 0); built ones are
    cached for a year (test_compression)."""
    anonymous = Client()
    login, missing = anonymous.get("/accounts/login/"), anonymous.get("/no/such/page/")
    with override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True):
        static = logged_in(make_user("officer", "credit_officer")).get("/static/css/portal.css")

    assert login["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    assert missing.status_code == 404 and "Cache-Control" not in missing
    assert static.status_code == 200 and "no-store" not in static["Cache-Control"]
    middleware = settings.MIDDLEWARE
    assert middleware.index("whitenoise.middleware.WhiteNoiseMiddleware") < middleware.index(
        "reviewer_portal.accounts.no_store.NoStoreMiddleware"
    )


@pytest.mark.django_db
def test_a_view_that_says_public_keeps_it_and_one_that_would_keep_private_data_does_not():
    """`public` is a view's word that nothing of anyone's is in the response; a `max-age` alone,
    on a signed-in user's response, would keep their data in the browser: no-store is added."""
    request = RequestFactory().get("/")
    request.user = make_user("officer", "credit_officer")

    def answered(cache_control: str) -> str:
        response = HttpResponse(headers={"Cache-Control": cache_control})
        return NoStoreMiddleware(lambda _: response)(request)["Cache-Control"]

    assert answered("public, max-age=600") == "public, max-age=600"
    assert answered("max-age=600") == "max-age=600, no-store, private"

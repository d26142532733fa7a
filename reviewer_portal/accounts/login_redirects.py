"""A request that is not signed in (its session expired, or was ended in another tab) is sent to
the login page by `login_required`, or by a view's own check, with `next` set to the URL it asked
for. For a form posted there, that URL answers only POST: logging in again led to a 405. And htmx
follows the redirect itself and swaps the login page into the panel it meant to update.

Here such a redirect of a POST or an htmx request is made to return to the page the reviewer was
on (reviewer_portal.accounts.session_limits.return_to: the page the form was sent from, else the
one it belongs to), and an htmx request is told to load the login page whole (HX-Redirect). The
form itself is not sent again: the reviewer sends it from the page, signed in."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

from reviewer_portal.accounts.session_limits import return_to


class LoginRedirectsMiddleware(MiddlewareMixin):
    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        htmx = bool(request.headers.get("HX-Request"))
        if (request.method in ("GET", "HEAD") and not htmx) or not _to_login(response):
            return response
        login = redirect_to_login(return_to(request), settings.LOGIN_URL_PATH)
        if htmx:
            return HttpResponse(status=204, headers={"HX-Redirect": login["Location"]})
        return login


def _to_login(response: HttpResponseBase) -> bool:
    """A redirect to the login page that names a page to come back to (signing out names none)."""
    location = response.get("Location", "") if response.status_code in (301, 302, 303, 307) else ""
    parts = urlsplit(location)
    return parts.path == settings.LOGIN_URL_PATH and "next" in parse_qs(parts.query)

"""Session limits a bank expects: signed out after SESSION_IDLE_SECONDS without a request of the
user's own, and SESSION_COOKIE_AGE after logging in however active the session has been (Django
moves its own expiry on whenever the session is saved, so the login time is kept and checked).
Background refreshes (the inbox's poll, the live re-reads) carry `X-Portal-Background` and do not
count as activity; nor do the Temporal Web UI's calls to the codec endpoint, which it makes on
its own while a page of it is open.

Signed out, the reviewer logs in again and comes back to the page they were on, never to a URL
that answers only POST (a form sent after the limit is dropped, not replayed)."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.contrib.sessions.backends.base import SessionBase
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.urls import Resolver404, resolve
from django.utils.http import url_has_allowed_host_and_scheme

LAST_ACTIVE = "portal_last_active"
LOGGED_IN_AT = "portal_logged_in_at"
BACKGROUND = "X-Portal-Background"
NOT_ACTIVITY_PATHS = ("/codec/",)
# The idle clock is kept to the minute (a tenth of the idle limit, if that is shorter): a request
# within a minute of the last one kept does not save the session again (a write per click, a
# decision's included), so a session is signed out between SESSION_IDLE_SECONDS minus a minute and
# SESSION_IDLE_SECONDS after its last request, never later.
ACTIVITY_STEP = 60


class SessionLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            request.session.setdefault(LOGGED_IN_AT, now)  # one from before it was kept: from now
            if why := limit_passed(request.session, now):
                return _sign_out(request, why)
            active = not request.headers.get(BACKGROUND) and not request.path.startswith(NOT_ACTIVITY_PATHS)
            step = min(ACTIVITY_STEP, settings.SESSION_IDLE_SECONDS / 10)  # for a short idle limit too
            if active and now - request.session.get(LAST_ACTIVE, 0) >= step:
                request.session[LAST_ACTIVE] = now
        return self.get_response(request)


def limit_passed(session: SessionBase, now: float) -> str | None:
    """Why `session` is signed out at `now`, if it is: idle too long, or logged in too long ago.
    The live-updates WebSocket asks too (reviewer_portal.live.access)."""
    if now - session.get(LAST_ACTIVE, now) > settings.SESSION_IDLE_SECONDS:
        return "after a while without activity"
    if now - session.get(LOGGED_IN_AT, now) > settings.SESSION_COOKIE_AGE:
        return "after 12 hours"
    return None


def _sign_out(request: HttpRequest, why: str) -> HttpResponse:
    logout(request)
    messages.info(request, f"You were signed out {why}; log in again.")
    login = redirect_to_login(return_to(request), settings.LOGIN_URL_PATH)
    if request.headers.get("HX-Request"):  # else htmx would swap the login page into the page
        return HttpResponse(status=204, headers={"HX-Redirect": login["Location"]})
    return login


def return_to(request: HttpRequest) -> str:
    """The page to come back to after logging in: the one asked for, if it is a page (a GET
    without htmx); otherwise the page the browser showed, if it is one of ours that answers GET,
    else the nearest page above the request's path, else the inbox."""
    if request.method in ("GET", "HEAD") and not request.headers.get("HX-Request"):
        return request.get_full_path()
    shown = request.headers.get("HX-Current-URL") or request.headers.get("Referer") or ""
    candidates = [_own_page(request, shown), *_pages_above(request.path)]
    return next(
        (page for page in candidates if page and _answers_get(page)), resolve_url(settings.LOGIN_REDIRECT_URL)
    )


def _own_page(request: HttpRequest, url: str) -> str:
    """`url`'s path and query, if it is the portal's own."""
    if not url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _pages_above(path: str) -> Iterator[str]:
    """/gates/x/decide/: /gates/x/, /gates/, /."""
    steps = path.strip("/").split("/")
    for end in range(len(steps) - 1, -1, -1):
        yield "/" + "".join(f"{step}/" for step in steps[:end])


def _answers_get(page: str) -> bool:
    """Whether the portal's view at `page` answers GET. Function views say which methods they take
    with Django's require_GET / require_POST / require_http_methods (STYLE.md), which keep the list
    in their closure as `request_method_list`; one without says nothing, and takes GET."""
    try:
        view: Any = resolve(urlsplit(page).path).func
    except Resolver404:
        return False
    if hasattr(view, "view_class"):  # a class-based view (the login page)
        return "get" in view.view_class.http_method_names and hasattr(view.view_class, "get")
    while view is not None:
        try:
            methods = inspect.getclosurevars(view).nonlocals.get("request_method_list")
        except (TypeError, ValueError):  # not a plain function: it cannot be told, so not offered
            return False
        if methods is not None:
            return "GET" in methods
        view = getattr(view, "__wrapped__", None)
    return True


@receiver(user_logged_in)
def _remember_login_time(sender: object, request: HttpRequest | None, **kwargs: object) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[LOGGED_IN_AT] = request.session[LAST_ACTIVE] = time.time()

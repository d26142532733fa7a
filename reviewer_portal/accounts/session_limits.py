"""Session limits a bank expects: signed out after SESSION_IDLE_SECONDS without a request of the
user's own, and SESSION_COOKIE_AGE after logging in however active the session has been (Django
moves its own expiry on whenever the session is saved, so the login time is kept and checked).
Background refreshes (the inbox's poll, the live re-reads) carry `X-Portal-Background` and do not
count as activity; nor do the Temporal Web UI's calls to the codec endpoint, which it makes on
its own while a page of it is open."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.backends.base import SessionBase
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

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
    if request.headers.get("HX-Request"):
        return HttpResponse(status=204, headers={"HX-Redirect": settings.LOGIN_URL_PATH})
    return redirect(f"{settings.LOGIN_URL_PATH}?next={request.get_full_path()}")


@receiver(user_logged_in)
def _remember_login_time(sender: object, request: HttpRequest | None, **kwargs: object) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[LOGGED_IN_AT] = request.session[LAST_ACTIVE] = time.time()

"""Session limits a bank expects: signed out after SESSION_IDLE_SECONDS without a request of the
user's own, and SESSION_COOKIE_AGE after logging in (Django's own expiry, which this never
extends). Background refreshes (the inbox's poll, the live re-reads) carry `X-Portal-Background`
and do not count as activity."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

LAST_ACTIVE = "portal_last_active"
BACKGROUND = "X-Portal-Background"


class SessionLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            last = request.session.get(LAST_ACTIVE, now)
            if now - last > settings.SESSION_IDLE_SECONDS:
                logout(request)
                messages.info(request, "You were signed out after a while without activity; log in again.")
                if request.headers.get("HX-Request"):
                    return HttpResponse(status=204, headers={"HX-Redirect": settings.LOGIN_URL_PATH})
                return redirect(f"{settings.LOGIN_URL_PATH}?next={request.get_full_path()}")
            if not request.headers.get(BACKGROUND):
                request.session[LAST_ACTIVE] = now
        return self.get_response(request)

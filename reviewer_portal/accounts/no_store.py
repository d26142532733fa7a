"""The browser keeps no response to a signed-in user, nor a customer's chat: they carry customer
data, which the disk cache and the back/forward cache would otherwise keep, for Back to show
after signing out on a shared desk PC. `Cache-Control: no-store, private` on each of them: pages,
htmx partials, JSON exports, error pages. Placed just inside WhiteNoise (static files keep their
long-lived caching), so what the middleware after it answers (a refused CSRF token, a missing
slash) is covered too. Anonymous pages keep the headers they had; a view that says `public`
meant it (nothing of anyone's in it), and keeps what it said."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control
from django.utils.deprecation import MiddlewareMixin

# Customers are not portal users: their conversation is theirs by a token the session holds.
CUSTOMER_PATHS = ("/support/chat/", "/api/support/")


class NoStoreMiddleware(MiddlewareMixin):
    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        user = getattr(request, "user", None)  # none if an outer middleware answered first
        private = (user is not None and user.is_authenticated) or request.path.startswith(CUSTOMER_PATHS)
        if private and not _says_public(response):
            patch_cache_control(response, no_store=True, private=True)
        return response


def _says_public(response: HttpResponseBase) -> bool:
    directives = response.get("Cache-Control", "").split(",")
    return "public" in {directive.split("=", 1)[0].strip().lower() for directive in directives}

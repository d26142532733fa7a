"""ASGI entry point: Django over HTTP (reviewer_portal.http_handler), and the live-updates
WebSocket through Channels.

WebSockets are accepted only from the portal's own pages (the same origin, port included, on one
of ALLOWED_HOSTS) and carry the Django session, so the consumer knows who is connected; an
anonymous handshake is refused before it (reviewer_portal.live.handshake).
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewer_portal.settings")

# Set up Django (apps, models) before importing anything that touches the ORM.
django.setup(set_prefix=False)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from reviewer_portal.http_handler import PortalHTTPHandler  # noqa: E402
from reviewer_portal.live.handshake import SignedInOnly  # noqa: E402
from reviewer_portal.live.origin import SameOriginValidator  # noqa: E402
from reviewer_portal.live.routing import websocket_urlpatterns  # noqa: E402
from reviewer_portal.request_threads import RequestThreads  # noqa: E402

threads = settings.PORTAL_REQUEST_THREADS
running = settings.PORTAL_RUNNING_REQUESTS

application = ProtocolTypeRouter(
    {
        "http": PortalHTTPHandler(RequestThreads(threads, running) if threads > 0 else None),
        "websocket": SameOriginValidator(AuthMiddlewareStack(SignedInOnly(URLRouter(websocket_urlpatterns)))),
    }
)

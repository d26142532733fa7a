"""The portal behind Django's stock ASGI handler (every middleware in async mode), the baseline
benchmarks/portal_load.py compares reviewer_portal.http_handler against: `--handlers portal,django`."""

from channels.routing import ProtocolTypeRouter
from django.core.handlers.asgi import ASGIHandler

from reviewer_portal.asgi import application as portal

application = ProtocolTypeRouter(
    {"http": ASGIHandler(), "websocket": portal.application_mapping["websocket"]}
)

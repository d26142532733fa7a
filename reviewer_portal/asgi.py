"""ASGI entry point: Django over HTTP now; Channels' WebSocket routes join here later."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewer_portal.settings")

application = get_asgi_application()

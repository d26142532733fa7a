from django.urls import path

from reviewer_portal.live.consumers import GateChangesConsumer

websocket_urlpatterns = [
    path("ws/gates/", GateChangesConsumer.as_asgi()),
]

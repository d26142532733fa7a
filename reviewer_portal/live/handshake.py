"""Refusing a WebSocket handshake before any consumer exists.

Channels' WebsocketDenier is a consumer: it takes a channel on the channel layer and waits on it
until the connection ends, so every refused handshake cost a receive on Redis (or the database),
and a flood of them as many. A refusal here answers the handshake with 403 and is done.
"""

from __future__ import annotations

from typing import Any


async def refuse_handshake(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer the handshake with a refusal (HTTP 403); nothing else is read or kept."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close"})


class SignedInOnly:
    """Only a signed-in user's handshake reaches the consumer (inside AuthMiddlewareStack, which
    has resolved `scope["user"]` by then); the consumer checks again."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        user = scope.get("user")
        if scope["type"] == "websocket" and (user is None or not user.is_authenticated):
            return await refuse_handshake(scope, receive, send)
        return await self.application(scope, receive, send)

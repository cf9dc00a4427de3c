"""Events: the App Home, published when its tab is opened."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.runtime.services import Services
from handlers.guard import Guard
from handlers.payloads import BadPayload, required


def register(app: AsyncApp, services: Services, guard: Guard) -> None:
    @app.event("app_home_opened")
    @guard.event
    async def home_opened(ack: AsyncAck, body: dict[str, Any]) -> None:
        # Events are acknowledged by Bolt at once; the view is published after.
        event = body.get("event")
        if not isinstance(event, dict):
            raise BadPayload("event")
        if event.get("tab", "home") == "home":
            guard.spawn(body, services.lookup.publish_home(required(event, "user")))

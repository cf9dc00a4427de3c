"""Events: the App Home, published when its tab is opened."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any]) -> None:
        # Events are acknowledged by Bolt at once; the view is published after.
        if event.get("tab", "home") == "home":
            services.tasks.spawn(services.lookup.publish_home(event["user"]))

"""Slack listeners: read the payload, acknowledge at once, hand the work to the bot's
services (bot.services). Handlers import nothing from storage."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services
from handlers import actions, commands, events, views


def register(app: AsyncApp, services: Services) -> None:
    commands.register(app, services)
    views.register(app, services)
    actions.register(app, services)
    events.register(app, services)

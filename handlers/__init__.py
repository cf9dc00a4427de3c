"""Slack listeners: read the payload, acknowledge at once, hand the work to the bot's
services (bot.runtime.services). Handlers import nothing from storage."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.runtime.services import Services
from handlers import actions, commands, events, views
from handlers.guard import Guard


def register(app: AsyncApp, services: Services) -> None:
    guard = Guard(services)  # every listener answers the person, whatever happens
    commands.register(app, services, guard)
    views.register(app, services, guard)
    actions.register(app, services, guard)
    events.register(app, services, guard)

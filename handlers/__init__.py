"""Slack listeners: read the payload, acknowledge at once, hand the work to bot.workflow."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.workflow import Workflow
from handlers import actions, commands, events, views


def register(app: AsyncApp, workflow: Workflow) -> None:
    commands.register(app, workflow)
    views.register(app, workflow)
    actions.register(app, workflow)
    events.register(app, workflow)

"""Buttons: Approve and Reject on the request card, Retry on a failure reply.

Each acknowledges first; the rest runs as tracked background work.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import blocks
from bot.services import Services
from handlers.payloads import actor, channel_of


def register(app: AsyncApp, services: Services) -> None:
    @app.action(blocks.APPROVE_ACTION)
    async def approve(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        services.tasks.spawn(services.lifecycle.approve_clicked(
            int(action["value"]), actor(body), channel_of(body)))

    @app.action(blocks.REJECT_ACTION)
    async def reject(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        services.tasks.spawn(services.lifecycle.reject_clicked(
            int(action["value"]), actor(body), channel_of(body), body["trigger_id"]))

    @app.action(blocks.RESUBMIT_ACTION)
    async def resubmit(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        request_id, _, failure = str(action["value"]).partition(":")
        services.tasks.spawn(services.lifecycle.resubmit_clicked(
            int(request_id), int(failure) if failure else None, actor(body), channel_of(body)))

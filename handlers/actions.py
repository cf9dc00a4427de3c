"""Buttons: Approve and Reject on the request card, Retry on a failure reply.

Each acknowledges first; the rest runs as tracked background work of the workflow.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import blocks
from bot.workflow import Workflow
from handlers.payloads import actor, channel_of


def register(app: AsyncApp, workflow: Workflow) -> None:
    @app.action(blocks.APPROVE_ACTION)
    async def approve(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        workflow.spawn(workflow.approve_clicked(int(action["value"]), actor(body),
                                                channel_of(body)))

    @app.action(blocks.REJECT_ACTION)
    async def reject(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        workflow.spawn(workflow.reject_clicked(int(action["value"]), actor(body),
                                               channel_of(body), body["trigger_id"]))

    @app.action(blocks.RESUBMIT_ACTION)
    async def resubmit(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        workflow.spawn(workflow.resubmit_clicked(int(action["value"]), actor(body),
                                                 channel_of(body)))

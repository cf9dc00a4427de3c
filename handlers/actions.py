"""Buttons: Approve, Reject, Withdraw and (large requests) the CSV on the request card (and
the App Home), Retry on a failure reply.

Each acknowledges first; the rest runs as tracked background work.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.runtime.services import Services
from bot.slack.render import kit, large
from handlers.guard import Guard
from handlers.payloads import actor, channel_of, clicked, required, retry_clicked


def register(app: AsyncApp, services: Services, guard: Guard) -> None:
    lifecycle = services.lifecycle

    @app.action(kit.APPROVE_ACTION)
    @guard.action
    async def approve(ack: AsyncAck, body: dict[str, Any]) -> None:
        request_id, who = clicked(body), actor(body)
        await ack()
        guard.spawn(body, lifecycle.approve_clicked(request_id, who, channel_of(body)))

    @app.action(kit.REJECT_ACTION)
    @guard.action
    async def reject(ack: AsyncAck, body: dict[str, Any]) -> None:
        request_id, who, trigger_id = clicked(body), actor(body), required(body, "trigger_id")
        await ack()
        guard.spawn(body, lifecycle.reject_clicked(request_id, who, channel_of(body),
                                                   trigger_id))

    @app.action(large.CSV_ACTION)
    @guard.action
    async def csv(ack: AsyncAck, body: dict[str, Any]) -> None:
        request_id, who = clicked(body), actor(body)
        await ack()
        guard.spawn(body, services.lookup.request_csv(who, request_id))

    @app.action(kit.RESUBMIT_ACTION)
    @guard.action
    async def resubmit(ack: AsyncAck, body: dict[str, Any]) -> None:
        (request_id, failure), who = retry_clicked(body), actor(body)
        await ack()
        guard.spawn(body, lifecycle.resubmit_clicked(request_id, failure, who,
                                                     channel_of(body)))

    @app.action(kit.WITHDRAW_ACTION)
    @guard.action
    async def withdraw(ack: AsyncAck, body: dict[str, Any]) -> None:
        request_id, who = clicked(body), actor(body)
        await ack()
        guard.spawn(body, lifecycle.withdraw_clicked(request_id, who, channel_of(body)))

"""Modal submissions: the cancel and send forms (validated line by line), the reject reason."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import blocks
from bot import validation as form
from bot.services import Services
from handlers.payloads import actor, value


async def answered(ack: AsyncAck, errors: dict[str, str]) -> bool:
    """Close the form when it is clean (True), or show each error on its field."""
    if errors:
        await ack(response_action="errors", errors=errors)
        return False
    await ack()
    return True


def source_channel(view: dict[str, Any]) -> str | None:
    return json.loads(view.get("private_metadata") or "{}").get("channel")


def register(app: AsyncApp, services: Services) -> None:
    lang = services.lang

    @app.view(blocks.CANCEL_VIEW)
    async def cancel_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
                               ) -> None:
        values = view["state"]["values"]
        clean, errors = form.validate_cancel(
            invoices=value(values, form.INVOICES) or "", reason=value(values, form.REASON),
            replacement=value(values, form.REPLACEMENT),
            justification=value(values, form.JUSTIFICATION),
            notify=value(values, form.NOTIFY) or [], limit=services.settings.max_invoices,
            lang=lang, active=services.lifecycle.active_elsewhere)
        request_id = None
        if clean is not None:  # written before the form closes: the loser of a race is told
            request_id, errors = await services.lifecycle.record_cancel(
                actor(body), clean, source_channel=source_channel(view), client_key=view["id"])
        if await answered(ack, errors) and clean is not None and request_id is not None:
            services.tasks.spawn(services.lifecycle.announce_cancel(
                request_id, actor(body), clean, source_channel=source_channel(view)))

    @app.view(blocks.SEND_VIEW)
    async def send_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
                             ) -> None:
        values = view["state"]["values"]
        request, errors = form.validate_send(
            invoices=value(values, form.INVOICES) or "",
            recipients=value(values, form.RECIPIENTS), subject=value(values, form.SUBJECT),
            message=value(values, form.MESSAGE),
            attach_pdf="pdf" in (value(values, form.ATTACH) or []),
            limit=services.settings.max_invoices, lang=lang)
        if await answered(ack, errors) and request is not None:
            services.tasks.spawn(services.lifecycle.create_send(actor(body), request,
                                                source_channel=source_channel(view),
                                                client_key=view["id"]))

    @app.view(blocks.REJECT_VIEW)
    async def reject_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
                               ) -> None:
        reason, errors = form.validate_reject(value(view["state"]["values"],
                                                    blocks.REJECT_REASON), lang)
        if await answered(ack, errors) and reason is not None:
            request_id = int(json.loads(view["private_metadata"])["request"])
            services.tasks.spawn(services.lifecycle.reject_submitted(request_id, actor(body),
                                                                     reason))

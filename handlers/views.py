"""Modal submissions: the cancel and send forms (validated line by line), the reject reason."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import blocks
from bot import validation as form
from bot.i18n import t
from bot.workflow import Workflow
from handlers.payloads import actor, value
from storage import queries


def register(app: AsyncApp, workflow: Workflow) -> None:
    lang = workflow.lang

    @app.view(blocks.CANCEL_VIEW)
    async def cancel_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
                               ) -> None:
        values = view["state"]["values"]
        clean, errors = form.validate_cancel(
            invoices=value(values, form.INVOICES) or "", reason=value(values, form.REASON),
            replacement=value(values, form.REPLACEMENT),
            justification=value(values, form.JUSTIFICATION),
            notify=value(values, form.NOTIFY) or [], limit=workflow.settings.max_invoices,
            lang=lang, active=lambda keys: queries.active_elsewhere(workflow.store.db, keys))
        if clean is None:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        metadata = json.loads(view.get("private_metadata") or "{}")
        workflow.spawn(workflow.create_cancel(actor(body), clean,
                                              source_channel=metadata.get("channel"),
                                              client_key=view["id"]))

    @app.view(blocks.SEND_VIEW)
    async def send_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
                             ) -> None:
        values = view["state"]["values"]
        request, errors = form.validate_send(
            invoices=value(values, form.INVOICES) or "",
            recipients=value(values, form.RECIPIENTS), subject=value(values, form.SUBJECT),
            message=value(values, form.MESSAGE),
            attach_pdf="pdf" in (value(values, form.ATTACH) or []),
            limit=workflow.settings.max_invoices, lang=lang)
        if request is None:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        metadata = json.loads(view.get("private_metadata") or "{}")
        workflow.spawn(workflow.create_send(actor(body), request,
                                            source_channel=metadata.get("channel"),
                                            client_key=view["id"]))

    @app.view(blocks.REJECT_VIEW)
    async def reject_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
                               ) -> None:
        reason = (value(view["state"]["values"], blocks.REJECT_REASON) or "").strip()
        if not reason:
            await ack(response_action="errors",
                      errors={blocks.REJECT_REASON: t("error.reject_reason_empty", lang)})
            return
        await ack()
        request_id = int(json.loads(view["private_metadata"])["request"])
        workflow.spawn(workflow.reject_submitted(request_id, actor(body), reason))

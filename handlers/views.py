"""Modal submissions: the cancel and send forms (validated line by line), the reject reason."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.invoice_lists.tables import is_list
from bot.runtime.services import Services
from bot.slack import forms as form
from bot.slack.attachments import check_files
from bot.slack.render import kit, modals
from handlers.guard import Guard
from handlers.payloads import (
    actor,
    files_value,
    list_value,
    metadata,
    request_id,
    source_channel,
    text_value,
    view_of,
)


async def answered(ack: AsyncAck, errors: dict[str, str]) -> bool:
    """Close the form when it is clean (True), or show each error on its field."""
    if errors:
        await ack(response_action="errors", errors=errors)
        return False
    await ack()
    return True


def register(app: AsyncApp, services: Services, guard: Guard) -> None:
    lang, lifecycle = services.lang, services.lifecycle

    @app.view(kit.CANCEL_VIEW)
    @guard.view
    async def cancel_submitted(ack: AsyncAck, body: dict[str, Any]) -> None:
        view = view_of(body)  # everything is read before anything is written
        values, who, channel = view["state"]["values"], actor(body), source_channel(view)
        if lifecycle.delivered_before(view["id"]):
            await ack()
            return
        typed = {form.INVOICES: text_value(values, form.INVOICES) or "",
                 form.REASON: text_value(values, form.REASON),
                 form.REPLACEMENT: text_value(values, form.REPLACEMENT),
                 form.JUSTIFICATION: text_value(values, form.JUSTIFICATION),
                 form.NOTIFY: list_value(values, form.NOTIFY)}
        files = files_value(values, form.XML_FILES)
        listed = any(is_list(file.name) for file in files)  # a list of invoices attached
        clean, errors = form.validate_cancel(
            invoices=typed[form.INVOICES], reason=typed[form.REASON],
            replacement=typed[form.REPLACEMENT], justification=typed[form.JUSTIFICATION],
            notify=typed[form.NOTIFY], limit=services.settings.max_invoices,
            lang=lang, active=lifecycle.active_elsewhere, listed_in_file=listed)
        if files and (problem := check_files(files, lang)):
            clean, errors = None, {**errors, form.XML_FILES: problem}
        if files and clean is not None:
            # Downloading the files is a Slack call: after the answer (bot.slack.attachments).
            await ack(response_action="update", view=modals.checking_modal(
                len(files), lang=lang, sandbox=services.sandbox, lists=listed))
            guard.spawn(body, services.attachments.check_and_create(
                who, clean, files, typed, view_id=view["id"], source_channel=channel,
                client_key=view["id"]))
            return
        new_id = None
        if clean is not None:  # written before the form closes: the loser of a race is told
            new_id, errors = await lifecycle.record_cancel(
                who, clean, source_channel=channel, client_key=view["id"])
        if await answered(ack, errors) and clean is not None and new_id is not None:
            guard.spawn(body, lifecycle.announce_cancel(new_id, who, clean,
                                                        source_channel=channel))

    @app.view(kit.SEND_VIEW)
    @guard.view
    async def send_submitted(ack: AsyncAck, body: dict[str, Any]) -> None:
        view = view_of(body)
        values, who, channel = view["state"]["values"], actor(body), source_channel(view)
        if lifecycle.delivered_before(view["id"]):
            await ack()
            return
        request, errors = form.validate_send(
            invoices=text_value(values, form.INVOICES) or "",
            recipients=text_value(values, form.RECIPIENTS),
            subject=text_value(values, form.SUBJECT), message=text_value(values, form.MESSAGE),
            attach_pdf="pdf" in list_value(values, form.ATTACH),
            limit=services.settings.max_invoices, lang=lang,
            by_uuid_only=services.provider.sends_by_uuid_only)
        if await answered(ack, errors) and request is not None:
            guard.spawn(body, lifecycle.create_send(who, request, source_channel=channel,
                                                    client_key=view["id"]))

    @app.view(kit.REJECT_VIEW)
    @guard.view
    async def reject_submitted(ack: AsyncAck, body: dict[str, Any]) -> None:
        view = view_of(body)
        who, rejected = actor(body), request_id(metadata(view).get("request"))
        reason, errors = form.validate_reject(
            text_value(view["state"]["values"], kit.REJECT_REASON), lang)
        if await answered(ack, errors) and reason is not None:
            guard.spawn(body, lifecycle.reject_submitted(rejected, who, reason))

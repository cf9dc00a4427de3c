"""The modals: the cancel and send forms (refilled with what was typed after a
background check), the rejection reason, and notices."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.i18n import t
from bot.invoice_lists.tables import EXTENSIONS as LIST_EXTENSIONS
from bot.sat.reasons import CancelReason
from bot.slack import forms as form
from bot.slack.mrkdwn import mention
from bot.slack.render.kit import (
    CANCEL_VIEW,
    NOTICE_VIEW,
    REJECT_REASON,
    REJECT_VIEW,
    SECTION_MAX,
    SEND_VIEW,
    Block,
    banner,
    context,
    plain,
    section,
)
from storage.domain import Row

XML_FILES_MAX = 10            # Slack's file_input takes at most 10


def _input(block_id: str, label: str, element: Block, *, hint: str | None = None,
           optional: bool = False) -> Block:
    return {"block_id": block_id, "element": element, **({"hint": plain(hint)} if hint else {}),
            "label": plain(label), **({"optional": True} if optional else {}), "type": "input"}


def _text_input(*, multiline: bool = False, max_length: int | None = None,
                initial_value: str | None = None) -> Block:
    return {"action_id": "value", **({"initial_value": initial_value} if initial_value else {}),
            **({"max_length": max_length} if max_length else {}),
            **({"multiline": True} if multiline else {}), "type": "plain_text_input"}


def _option(value: str, text: str) -> Block:
    return {"text": plain(text), "value": value}


def _invoices_input(prefill: str, limit: int, lang: str, *, hint: str = "modal.invoices.hint"
                    ) -> Block:
    """The invoices, one per line, within Slack's 3,000 characters (a longer list goes
    as a file, bot.invoice_lists); a prefill cut at the last whole line that fits."""
    most = form.INVOICES_MAX_CHARS
    if len(prefill) > most:
        prefill = prefill[:most].rpartition("\n")[0]
    return _input(form.INVOICES, t("modal.invoices.label", lang),
                  _text_input(multiline=True, initial_value=prefill, max_length=most),
                  hint=t(hint, lang, limit=limit, chars=f"{most:,}"))


def _modal(callback_id: str, title: str, submit: str, blocks: list[Block],
           metadata: dict[str, Any], lang: str) -> dict[str, Any]:
    return {"blocks": blocks, "callback_id": callback_id, "close": plain(t("modal.close", lang)),
            "private_metadata": json.dumps(metadata), "submit": plain(submit),
            "title": plain(title), "type": "modal"}


def _form(callback_id: str, title: str, submit: str, blocks: list[Block],
          channel_id: str | None, lang: str) -> dict[str, Any]:
    """A request form; it remembers the channel it was opened from, to answer there."""
    return _modal(callback_id, title, submit, blocks, {"channel": channel_id}, lang)


def cancel_modal(*, prefill: str, channel_id: str | None, limit: int, lang: str,
                 sandbox: bool, typed: Mapping[str, Any] | None = None,
                 problems: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The cancel form; shown again after its files were checked (bot.slack.attachments), with
    what was `typed` and each of the `problems` under its field (the ack's errors cannot
    reach a form that is no longer the open view)."""
    reasons = [_option(r.value, f"{r.value} — {r.description}") for r in CancelReason]
    blocks: list[Block] = [
        *banner(sandbox, lang),
        _invoices_input(prefill, limit, lang, hint="bulk.modal.invoices_hint"),
        _input(form.REASON, t("modal.reason.label", lang), {
            "action_id": "value", "options": reasons,
            "placeholder": plain(t("modal.reason.placeholder", lang)),
            "type": "static_select"}),
        _input(form.REPLACEMENT, t("modal.replacement.label", lang),
               _text_input(max_length=36), hint=t("modal.replacement.hint", lang),
               optional=True),
        _input(form.JUSTIFICATION, t("modal.justification.label", lang),
               _text_input(multiline=True, max_length=form.JUSTIFICATION_MAX),
               hint=t("modal.justification.hint", lang)),
        _input(form.NOTIFY, t("modal.notify.label", lang), {
            "action_id": "value", "max_selected_items": form.NOTIFY_MAX,
            "type": "multi_users_select"}, optional=True),
        _input(form.XML_FILES, t("bulk.modal.files_label", lang), {
            "action_id": "value", "filetypes": ["xml", *LIST_EXTENSIONS],
            "max_files": XML_FILES_MAX, "type": "file_input"},
            hint=t("bulk.modal.files_hint", lang, limit=XML_FILES_MAX), optional=True),
    ]
    if typed is not None:
        blocks = _refilled(blocks, typed, problems or {}, lang)
    return _form(CANCEL_VIEW, t("modal.cancel.title", lang), t("modal.submit", lang), blocks,
                 channel_id, lang)


def _refilled(blocks: list[Block], typed: Mapping[str, Any], problems: Mapping[str, str],
              lang: str) -> list[Block]:
    """The inputs holding what was typed, a problem under its field (plain text: Slack
    shows it as written), and a reminder that the files must be attached again (a
    file_input takes no initial files)."""
    shown: list[Block] = []
    for block in blocks:
        shown.append(block)
        element, value = block.get("element") or {}, typed.get(block.get("block_id", ""))
        if value and element.get("type") == "plain_text_input":
            element["initial_value"] = value
        elif value and element.get("type") == "static_select":
            element["initial_option"] = next(
                (o for o in element["options"] if o["value"] == value), None)
            if element["initial_option"] is None:
                del element["initial_option"]
        elif value and element.get("type") == "multi_users_select":
            element["initial_users"] = list(value)
        notes = [f"⚠️ {problems[block['block_id']]}"] if block.get("block_id") in problems \
            else []
        if element.get("type") == "file_input":
            notes.append(t("modal.xml.again", lang))
        if notes:
            shown.append({"block_id": f"{block['block_id']}_problem",
                          "elements": [plain(note[:SECTION_MAX]) for note in notes],
                          "type": "context"})
    return shown


def checking_modal(count: int, *, lang: str, sandbox: bool, lists: bool = False
                   ) -> dict[str, Any]:
    """What the cancel form turns into while its files (XML, or a list of invoices) are
    checked (bot.slack.attachments)."""
    key = "bulk.checking" if lists else "modal.checking"
    return notice_modal(t(f"{key}.title", lang), t(f"{key}.text", lang, count=count),
                        lang=lang, sandbox=sandbox)


def notice_modal(title: str, text: str, *, lang: str, sandbox: bool) -> dict[str, Any]:
    """A modal that only tells something: while the form's files are checked, then what
    came of it."""
    return {"blocks": [section(text), *banner(sandbox, lang)], "callback_id": NOTICE_VIEW,
            "close": plain(t("modal.close", lang)), "title": plain(title), "type": "modal"}


def send_modal(*, prefill: str, channel_id: str | None, limit: int, lang: str,
               sandbox: bool) -> dict[str, Any]:
    attach = _option("pdf", t("modal.send.attach_option", lang))
    blocks: list[Block] = [
        *banner(sandbox, lang),
        _invoices_input(prefill, limit, lang),
        _input(form.RECIPIENTS, t("modal.send.recipients.label", lang),
               _text_input(multiline=True),
               hint=t("modal.send.recipients.hint", lang, limit=form.MAX_RECIPIENTS)),
        _input(form.SUBJECT, t("modal.send.subject.label", lang),
               _text_input(max_length=form.SUBJECT_MAX), optional=True),
        _input(form.MESSAGE, t("modal.send.message.label", lang),
               _text_input(multiline=True, max_length=form.MESSAGE_MAX), optional=True),
        _input(form.ATTACH, t("modal.send.attach.label", lang), {
            "action_id": "value", "initial_options": [attach], "options": [attach],
            "type": "checkboxes"}, optional=True),
    ]
    return _form(SEND_VIEW, t("modal.send.title", lang), t("modal.send.submit", lang), blocks,
                 channel_id, lang)


def reject_modal(request: Row, *, lang: str, sandbox: bool) -> dict[str, Any]:
    blocks: list[Block] = [
        *banner(sandbox, lang),
        context(t("modal.reject.context", lang, id=request["id"],
                  user=mention(request["requester_id"]))),
        _input(REJECT_REASON, t("modal.reject.reason.label", lang),
               _text_input(multiline=True, max_length=form.JUSTIFICATION_MAX)),
    ]
    return _modal(REJECT_VIEW, t("modal.reject.title", lang), t("modal.reject.submit", lang),
                  blocks, {"request": request["id"]}, lang)

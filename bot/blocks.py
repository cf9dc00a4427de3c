"""Block Kit for every message and modal, built with slack_sdk's models (they check Slack's
limits). Everything is rendered from the database rows, so an update is "render again".

Why this module is long: every message and modal the bot shows is built here, so that
Slack's limits (50 blocks, 3,000 characters a section) are kept in one place.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
    UserMultiSelectElement,
)
from slack_sdk.models.views import View

from bot import validation as form
from bot.i18n import code_text, t
from bot.mrkdwn import escape, mention, quote, when
from bot.sat.outcomes import Outcome, nuance_of
from bot.sat.reasons import CancelReason
from storage.domain import Row
from storage.states import InvoiceStatus as IS
from storage.states import ReplyKind as Reply
from storage.states import RequestStatus as RS

SECTION_MAX = 3000
MESSAGE_BLOCKS = 50   # Slack refuses a message with more blocks (invalid_blocks)
FALLBACK_MAX = 3000   # the notification text of a message (Slack allows 40,000)
CARD_INVOICE_LINES = 40

# Callback and action ids: the contract between these views and handlers/.
CANCEL_VIEW = "cfdi_cancel"
SEND_VIEW = "cfdi_send"
REJECT_VIEW = "cfdi_reject"
APPROVE_ACTION = "cfdi_approve"
REJECT_ACTION = "cfdi_reject"
RESUBMIT_ACTION = "cfdi_resubmit"
REJECT_REASON = form.REJECT_REASON

_OUTCOMES = {outcome.value for outcome in Outcome}
# How the card counts invoices (the placeholders of card.counts).
_COUNT_GROUPS = {
    IS.CANCELED: "done", IS.ALREADY_CANCELED: "done", IS.SENT: "done",
    IS.PENDING: "waiting", IS.DENIED: "refused", IS.NOT_CANCELABLE: "refused",
    IS.EXPIRED: "refused", IS.FAILED: "errors", IS.UNKNOWN: "unsure",
}


def md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text)


def _dump(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    return [block.to_dict() for block in blocks]


def banner(sandbox: bool, lang: str) -> list[Block]:
    return [ContextBlock(elements=[md(t("sandbox.banner", lang))])] if sandbox else []


def sections(lines: Sequence[str], limit: int = SECTION_MAX) -> list[Block]:
    """Lines packed into as few sections as Slack's 3,000 characters allow."""
    blocks: list[Block] = []
    chunk = ""
    for line in lines:
        line = line[: limit - 1]
        if chunk and len(chunk) + 1 + len(line) > limit:
            blocks.append(SectionBlock(text=md(chunk)))
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    if chunk:
        blocks.append(SectionBlock(text=md(chunk)))
    return blocks


def message(text: str, *, sandbox: bool, lang: str, extra: Sequence[Block] = ()
            ) -> dict[str, Any]:
    """A plain thread reply or DM: the text in sections, then the sandbox banner."""
    blocks = [*sections(text.split("\n")), *extra, *banner(sandbox, lang)]
    return {"text": text[:3000], "blocks": _dump(blocks[:50])}


def messages(text: str, *, sandbox: bool, lang: str, extra: Sequence[Block] = ()
             ) -> list[dict[str, Any]]:
    """A thread reply in as many messages as Slack's 50 blocks need: every line in some
    message, each message ending with the sandbox banner, `extra` (a button) on the last."""
    tail = banner(sandbox, lang)
    room = MESSAGE_BLOCKS - len(tail) - len(extra)
    body = sections(text.split("\n"))
    parts = [body[start:start + room] for start in range(0, len(body), room)] or [[]]
    payloads = []
    for number, part in enumerate(parts, start=1):
        shown = "\n".join(block.text.text for block in part
                          if isinstance(block, SectionBlock) and block.text is not None)
        blocks = [*part, *(extra if number == len(parts) else ()), *tail]
        payloads.append({"text": shown[:FALLBACK_MAX] or text[:FALLBACK_MAX],
                         "blocks": _dump(blocks)})
    return payloads


def request_card(request: Row, invoices: Sequence[Row], decisions: Sequence[Row], *,
                 lang: str, sandbox: bool, ttl_h: float) -> dict[str, Any]:
    status, sending = request["status"], request["kind"] == "send"
    title = t("card.send_title" if sending else "card.title", lang, id=request["id"])
    fields = [md(t("card.requester", lang, user=mention(request["requester_id"]))),
              md(t("card.status", lang, status=t(f"request.{status}", lang)))]
    if sending:
        options = json.loads(request["send_options"] or "{}")
        recipients = ", ".join(escape(e) for e in json.loads(request["recipients"] or "[]"))
        fields.append(md(t("card.recipients", lang, emails=recipients)[:1900]))
        if options.get("subject"):
            fields.append(md(t("card.subject", lang, subject=escape(options["subject"]))))
    else:
        fields.append(md(t("card.reason", lang, code=request["reason"],
                            description=CancelReason(request["reason"]).description)))
    if request["replacement_uuid"]:
        fields.append(md(t("card.replacement", lang, uuid=request["replacement_uuid"])))
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=title)),
                           SectionBlock(fields=fields)]
    if request["justification"]:
        blocks.append(SectionBlock(text=md(t("card.justification", lang, text=quote(
            request["justification"]))[:SECTION_MAX])))
    shown = invoices[:CARD_INVOICE_LINES]
    lines = [t("card.invoices", lang, count=len(invoices))]
    for invoice in shown:
        status_key = f"outcome.{invoice['status']}"
        state = "" if invoice["status"] == IS.REQUESTED else f" — {t(status_key, lang)}"
        lines.append(f"`{escape(invoice['ref_key'])}`{state}")
    if len(invoices) > len(shown):
        lines.append(t("card.more_invoices", lang, count=len(invoices) - len(shown)))
    blocks += sections(lines)
    if status in (RS.SUBMITTED, RS.COMPLETED, RS.FAILED):
        counts = dict.fromkeys(("done", "waiting", "refused", "errors", "unsure"), 0)
        for invoice in invoices:
            if group := _COUNT_GROUPS.get(invoice["status"]):
                counts[group] += 1
        blocks.append(ContextBlock(elements=[md(t("card.counts", lang, **counts))]))
    blocks += _decision_lines(request, decisions, lang, ttl_h)
    if status == RS.AWAITING_APPROVAL:
        value = str(request["id"])
        blocks.append(ActionsBlock(block_id="decision", elements=[
            ButtonElement(text=t("card.approve", lang), action_id=APPROVE_ACTION, value=value,
                          style="primary"),
            ButtonElement(text=t("card.reject", lang), action_id=REJECT_ACTION, value=value,
                          style="danger")]))
    blocks += banner(sandbox, lang)
    fallback = title + " — " + t(f"request.{status}", lang)
    return {"text": fallback, "blocks": _dump(blocks)}


def _decision_lines(request: Row, decisions: Sequence[Row], lang: str, ttl_h: float
                    ) -> list[Block]:
    approvals = [d for d in decisions if d["decision"] == "approve"]
    rejection = next((d for d in decisions if d["decision"] == "reject"), None)
    names = ", ".join(mention(d["user_id"]) for d in approvals)
    status = request["status"]
    lines = []
    if rejection is not None:
        lines.append(t("card.rejected_by", lang, user=mention(rejection["user_id"]),
                       when=when(rejection["decided_at"]), reason=escape(rejection["reason"])))
    elif status == RS.EXPIRED:
        lines.append(t("card.expired", lang, hours=f"{ttl_h:g}",
                       when=when(request["updated_at"])))
    elif status == RS.AWAITING_APPROVAL and approvals:
        lines.append(t("card.approvals_so_far", lang, names=names, count=len(approvals),
                       required=request["approvals_required"]))
    elif approvals:
        lines.append(t("card.approved_by", lang, names=names,
                       when=when(approvals[-1]["decided_at"])))
    return [ContextBlock(elements=[md(line)]) for line in lines]


def invoice_line(line: dict[str, Any], lang: str) -> str:
    """`ref` — *status*: what it means (the SAT's nuance when it gives one) _provider words_."""
    status, detalle = line["status"], line.get("detalle")
    nuance = nuance_of(detalle, Outcome(status)) if status in _OUTCOMES else None
    detail = t(f"nuance.{nuance}", lang) if nuance else code_text(line.get("code"), lang, detalle)
    if detalle and escape(detalle) not in detail:
        detail = f"{detail} _{escape(detalle)}_"
    return t("reply.outcome_line", lang, ref=escape(line["ref"]),
             outcome=t(f"outcome.{status}", lang), detail=detail)


def thread_reply(request: Row, entries: Sequence[tuple[str, dict[str, Any]]], *, lang: str,
                 sandbox: bool) -> list[dict[str, Any]]:
    """One reply for the outbox entries (kind, payload) owed to a request's thread, in as
    many messages as it needs (see `messages`)."""
    requester, request_id = mention(request["requester_id"]), request["id"]
    lines: list[str] = []
    extra: list[Block] = []
    for kind, data in entries:
        if kind == Reply.APPROVED:
            lines.append(t("reply.approved", lang, user=mention(data["user"])))
        elif kind == Reply.APPROVAL_COUNTED:
            lines.append(t("reply.approval_counted", lang, user=mention(data["user"]),
                           count=data["count"], required=data["required"]))
        elif kind == Reply.RESUBMITTED:
            lines.append(t("reply.resubmitted", lang, user=mention(data["user"])))
        elif kind == Reply.OUTCOMES:
            lines.append(t("reply.outcomes", lang, mention=requester, id=request_id))
            lines += [invoice_line(line, lang) for line in data["invoices"]]
            if request["kind"] == "send" and any(
                    line["status"] == IS.UNKNOWN for line in data["invoices"]):
                lines.append(t("reply.send_unknown", lang))  # what to check, in the thread
        elif kind == Reply.RESOLVED:
            head = t("reply.resolved", lang, mention=requester, id=request_id)
            if head not in lines:
                lines.append(head)
            lines.append(invoice_line(data, lang))
        elif kind == Reply.COMPLETED:
            lines.append(t("reply.completed", lang, id=request_id))
        elif kind == Reply.FAILED:
            lines.append(t("reply.failed", lang, mention=requester, id=request_id,
                           why=code_text(data.get("code"), lang, data.get("message"))))
            lines.append(t(f"reply.failed.{data.get('class') or 'final_failure'}", lang))
            extra = [ActionsBlock(block_id="resubmit", elements=[
                ButtonElement(text=t("reply.resubmit", lang), action_id=RESUBMIT_ACTION,
                              value=f"{request_id}:{data.get('attempt') or 0}")])]
        elif kind == Reply.REJECTED:
            lines.append(t("reply.rejected", lang, mention=requester,
                           user=mention(data["user"]), reason=escape(data["reason"])))
        elif kind == Reply.EXPIRED:
            lines.append(t("reply.expired", lang, mention=requester, hours=f"{data['hours']:g}"))
    return messages("\n".join(lines), sandbox=sandbox, lang=lang, extra=extra)


def help_blocks(lang: str, sandbox: bool) -> dict[str, Any]:
    lines = [t(key, lang) for key in ("help.title", "help.cancel", "help.send", "help.status",
                                      "help.history", "help.help")]
    return {"text": lines[0], "blocks": _dump([*sections(lines), *banner(sandbox, lang)])}


def _invoices_input(prefill: str, limit: int, lang: str) -> InputBlock:
    return InputBlock(block_id=form.INVOICES, label=t("modal.invoices.label", lang),
                      hint=t("modal.invoices.hint", lang, limit=limit),
                      element=PlainTextInputElement(action_id="value", multiline=True,
                                                    initial_value=prefill or None))


def _form(callback_id: str, title: str, submit: str, blocks: list[Block],
          channel_id: str | None, lang: str) -> dict[str, Any]:
    """A request form; it remembers the channel it was opened from, to answer there."""
    view = View(type="modal", callback_id=callback_id, title=title, submit=submit,
                close=t("modal.close", lang), blocks=blocks,
                private_metadata=json.dumps({"channel": channel_id}))
    return view.to_dict()


def cancel_modal(*, prefill: str, channel_id: str | None, limit: int, lang: str,
                 sandbox: bool) -> dict[str, Any]:
    reasons = [Option(value=r.value, text=f"{r.value} — {r.description}") for r in CancelReason]
    blocks: list[Block] = [
        *banner(sandbox, lang),
        _invoices_input(prefill, limit, lang),
        InputBlock(block_id=form.REASON, label=t("modal.reason.label", lang),
                   element=StaticSelectElement(
                       action_id="value", options=reasons,
                       placeholder=t("modal.reason.placeholder", lang))),
        InputBlock(block_id=form.REPLACEMENT, optional=True,
                   label=t("modal.replacement.label", lang),
                   hint=t("modal.replacement.hint", lang),
                   element=PlainTextInputElement(action_id="value", max_length=36)),
        InputBlock(block_id=form.JUSTIFICATION, label=t("modal.justification.label", lang),
                   hint=t("modal.justification.hint", lang),
                   element=PlainTextInputElement(action_id="value", multiline=True,
                                                 max_length=form.JUSTIFICATION_MAX)),
        InputBlock(block_id=form.NOTIFY, optional=True, label=t("modal.notify.label", lang),
                   element=UserMultiSelectElement(action_id="value",
                                                  max_selected_items=form.NOTIFY_MAX)),
    ]
    return _form(CANCEL_VIEW, t("modal.cancel.title", lang), t("modal.submit", lang), blocks,
                 channel_id, lang)


def send_modal(*, prefill: str, channel_id: str | None, limit: int, lang: str,
               sandbox: bool) -> dict[str, Any]:
    attach = Option(value="pdf", text=t("modal.send.attach_option", lang))
    blocks: list[Block] = [
        *banner(sandbox, lang),
        _invoices_input(prefill, limit, lang),
        InputBlock(block_id=form.RECIPIENTS, label=t("modal.send.recipients.label", lang),
                   hint=t("modal.send.recipients.hint", lang, limit=form.MAX_RECIPIENTS),
                   element=PlainTextInputElement(action_id="value", multiline=True)),
        InputBlock(block_id=form.SUBJECT, optional=True,
                   label=t("modal.send.subject.label", lang),
                   element=PlainTextInputElement(action_id="value",
                                                 max_length=form.SUBJECT_MAX)),
        InputBlock(block_id=form.MESSAGE, optional=True,
                   label=t("modal.send.message.label", lang),
                   element=PlainTextInputElement(action_id="value", multiline=True,
                                                 max_length=form.MESSAGE_MAX)),
        InputBlock(block_id=form.ATTACH, optional=True, label=t("modal.send.attach.label", lang),
                   element=CheckboxesElement(action_id="value", options=[attach],
                                             initial_options=[attach])),
    ]
    return _form(SEND_VIEW, t("modal.send.title", lang), t("modal.send.submit", lang), blocks,
                 channel_id, lang)


def reject_modal(request: Row, *, lang: str, sandbox: bool) -> dict[str, Any]:
    blocks: list[Block] = [
        *banner(sandbox, lang),
        ContextBlock(elements=[md(t("modal.reject.context", lang, id=request["id"],
                                     user=mention(request["requester_id"])))]),
        InputBlock(block_id=REJECT_REASON, label=t("modal.reject.reason.label", lang),
                   element=PlainTextInputElement(action_id="value", multiline=True,
                                                 max_length=form.JUSTIFICATION_MAX)),
    ]
    view = View(type="modal", callback_id=REJECT_VIEW, title=t("modal.reject.title", lang),
                submit=t("modal.reject.submit", lang), close=t("modal.close", lang),
                blocks=blocks, private_metadata=json.dumps({"request": request["id"]}))
    return view.to_dict()

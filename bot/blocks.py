"""Block Kit for every message and modal, as plain dicts (JSON as Slack documents it).
Everything is rendered from the database rows, so an update is "render again".

Plain dicts, not slack_sdk's models: the models validate and serialise each object by
reflection, 25-50x the cost of the dicts (benchmarks/rendering.py), on the event loop that
answers Slack. Slack's limits are kept here (truncation, 50 blocks) and checked by
tests/test_rendering.py; keys are in the order slack_sdk wrote them (sorted).

Why this module is long: every message and modal the bot shows is built here, so that
Slack's limits (50 blocks, 3,000 characters a section) are kept in one place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from bot import large
from bot import validation as form
from bot.i18n import CATALOGUES, code_text, t
from bot.mrkdwn import escape, mention, quote, shown_name, when
from bot.sat.cancellability import (
    Flag,
    acceptance_ends,
    cancel_deadline,
    flag,
    needs_acceptance,
    sat_today,
)
from bot.sat.cfdi import CfdiFacts
from bot.sat.outcomes import Outcome, nuance_of
from bot.sat.reasons import CancelReason
from bot.sat.status import SatStatus
from storage.domain import Row
from storage.states import InvoiceStatus as IS
from storage.states import ReplyKind as Reply
from storage.states import RequestStatus as RS

SECTION_MAX = 3000
MESSAGE_BLOCKS = 50   # Slack refuses a message with more blocks (invalid_blocks)
FALLBACK_MAX = 3000   # the notification text of a message (Slack allows 40,000)
CARD_INVOICE_LINES = 40
COMMAND_SHOWN = 40    # characters of a mistyped subcommand repeated back

# Callback and action ids: the contract between these views and handlers/.
CANCEL_VIEW = "cfdi_cancel"
NOTICE_VIEW = "cfdi_notice"   # no inputs, no submit: "checking the files", "recorded"
XML_FILES_MAX = 10            # Slack's file_input takes at most 10
SEND_VIEW = "cfdi_send"
REJECT_VIEW = "cfdi_reject"
APPROVE_ACTION = "cfdi_approve"
REJECT_ACTION = "cfdi_reject"
RESUBMIT_ACTION = "cfdi_resubmit"
REJECT_REASON = form.REJECT_REASON

_OUTCOMES = {outcome.value for outcome in Outcome}
# Statuses whose reason the bot explains (the code's words); the others say it themselves.
_EXPLAINED = frozenset({IS.NOT_CANCELABLE, IS.FAILED, IS.UNKNOWN})
# Codes whose words only restate "cannot be cancelled": the status word says it already.
_SAID_BY_STATUS = frozenset({"204", "sat:204"})
# How the card counts invoices (the placeholders of card.counts).
_COUNT_GROUPS = {
    IS.CANCELED: "done", IS.ALREADY_CANCELED: "done", IS.SENT: "done",
    IS.PENDING: "waiting", IS.DENIED: "refused", IS.NOT_CANCELABLE: "refused",
    IS.EXPIRED: "refused", IS.FAILED: "errors", IS.UNKNOWN: "unsure",
    IS.AWAITING_SAT: "waiting", IS.UNCONFIRMED: "unsure",
}
# The code of an invoice left out of a submission: the SAT already showed it cancelled.
_AT_THE_SAT_ALREADY = "sat:cancelado"


Block = dict[str, Any]


def md(text: str) -> Block:
    return {"text": text, "type": "mrkdwn"}


def plain(text: str, *, emoji: bool = True) -> Block:
    return {"emoji": True, "text": text, "type": "plain_text"} if emoji else \
        {"text": text, "type": "plain_text"}


def section(text: str) -> Block:
    return {"text": md(text), "type": "section"}


def context(text: str) -> Block:
    return {"elements": [md(text)], "type": "context"}


def button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    styled = {"style": style} if style else {}
    return {"action_id": action_id, **styled, "text": plain(text), "type": "button",
            "value": value}


def actions(block_id: str, elements: list[Block]) -> Block:
    return {"block_id": block_id, "elements": elements, "type": "actions"}


def decision_buttons(block_id: str, request_id: int, lang: str) -> Block:
    """Approve and Reject, on the card and on the App Home."""
    value = str(request_id)
    return actions(block_id, [
        button(t("card.approve", lang), APPROVE_ACTION, value, "primary"),
        button(t("card.reject", lang), REJECT_ACTION, value, "danger")])


def banner(sandbox: bool, lang: str) -> list[Block]:
    return [context(t("sandbox.banner", lang))] if sandbox else []


def sections(lines: Sequence[str], limit: int = SECTION_MAX) -> list[Block]:
    """Lines packed into as few sections as Slack's 3,000 characters allow."""
    blocks: list[Block] = []
    chunk = ""
    for line in lines:
        line = line[: limit - 1]
        if chunk and len(chunk) + 1 + len(line) > limit:
            blocks.append(section(chunk))
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    if chunk:
        blocks.append(section(chunk))
    return blocks


def message(text: str, *, sandbox: bool, lang: str, extra: Sequence[Block] = ()
            ) -> dict[str, Any]:
    """A plain thread reply or DM: the text in sections, then the sandbox banner."""
    blocks = [*sections(text.split("\n")), *extra, *banner(sandbox, lang)]
    return {"text": text[:3000], "blocks": blocks[:50]}


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
        shown = "\n".join(block["text"]["text"] for block in part if "text" in block)
        blocks = [*part, *(extra if number == len(parts) else ()), *tail]
        payloads.append({"text": shown[:FALLBACK_MAX] or text[:FALLBACK_MAX],
                         "blocks": blocks})
    return payloads


def request_card(request: Row, invoices: Sequence[Row], decisions: Sequence[Row], *,
                 lang: str, sandbox: bool, ttl_h: float,
                 deadline: tuple[int, int] = (3, 31), large_at: int | None = None
                 ) -> dict[str, Any]:
    """The request card; with more invoices than `large_at`, summarised (bot/large.py)."""
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
    blocks: list[Block] = [{"text": plain(title, emoji=False), "type": "header"},
                           {"fields": fields, "type": "section"}]
    if request["justification"]:
        blocks.append(section(t("card.justification", lang, text=quote(
            request["justification"]))[:SECTION_MAX]))
    big = large.is_large(len(invoices), large_at)
    shown = invoices[:large.FIRST_SHOWN if big else CARD_INVOICE_LINES]
    lines = [t("card.invoices", lang, count=len(invoices))]
    if big:
        lines += [*large.card_lines(request, invoices, lang),
                  t("large.first", lang, count=len(shown))]
    for invoice in shown:
        status_key = f"outcome.{invoice['status']}"
        state = "" if invoice["status"] == IS.REQUESTED else f" — {t(status_key, lang)}"
        lines.append(f"`{escape(invoice['ref_key'])}`{state}")
        if invoice.get("facts") and (facts := json.loads(invoice["facts"])):
            lines.append(facts_line(facts, lang))
            if invoice["status"] == IS.REQUESTED and facts.get("invoice"):
                lines.append(prospects_line(facts, lang, deadline, sat_today()))
                if facts.get("replacement"):
                    lines.append("> " + replacement_text(facts["replacement"], lang))
    if big:
        lines.append(t("large.more", lang, count=len(invoices) - len(shown), id=request["id"]))
    elif len(invoices) > len(shown):
        lines.append(t("card.more_invoices", lang, count=len(invoices) - len(shown)))
    blocks += sections(lines)
    if big:
        blocks.append(actions("csv", [button(t("large.csv_button", lang), large.CSV_ACTION,
                                             str(request["id"]))]))
    elif status in (RS.SUBMITTED, RS.COMPLETED, RS.FAILED):
        counts = dict.fromkeys(("done", "waiting", "refused", "errors", "unsure"), 0)
        for invoice in invoices:
            if group := _COUNT_GROUPS.get(invoice["status"]):
                counts[group] += 1
        blocks.append(context(t("card.counts", lang, **counts)))
    if request.get("approval_rule"):
        blocks.append(context(rule_text(json.loads(request["approval_rule"]), lang)))
    blocks += _decision_lines(request, decisions, lang, ttl_h)
    if status == RS.AWAITING_APPROVAL:
        blocks.append(decision_buttons("decision", request["id"], lang))
    blocks += banner(sandbox, lang)
    fallback = title + " — " + t(f"request.{status}", lang)
    return {"text": fallback, "blocks": blocks}


def facts_line(facts: dict[str, Any], lang: str) -> str:
    """What the invoice is and what the SAT says of it, under its line on the card. Names
    and RFCs come from the invoice's XML: escaped."""
    invoice, sat = facts.get("invoice"), facts.get("sat")
    if invoice is None:
        return "> " + t("card.facts_unavailable", lang)
    customer = escape(invoice.get("receiver_name") or "") or "—"
    said = t("card.facts", lang, customer=customer, rfc=escape(invoice["receiver_rfc"]),
             total=f"${Decimal(invoice['total']):,.2f} {escape(invoice['currency'])}",
             date=invoice["issued_at"][:10], type=t(f"cfdi.type.{invoice['type']}", lang))
    if facts.get("source") == "attached":  # the requester's file, not the provider's copy
        name = escape(shown_name(facts.get("file") or ""))
        said += " · " + t("card.facts_attached", lang, name=name)
    if sat is None:
        return f"> {said}\n> " + t("card.sat_unavailable", lang)
    status = SatStatus(**sat)
    return f"> {said}\n> " + t("card.sat", lang, estado=t(f"sat.estado.{status.state}", lang),
                                cancelable=t(f"sat.cancelable.{status.cancelable}", lang),
                                when=when(facts["sat_at"]))


def flag_text(flagged: Flag, invoice: CfdiFacts, last_day: date, lang: str) -> str:
    """Why the invoice gives pause, in words (the related CFDIs its XML names, if any)."""
    if flagged is Flag.NOT_CANCELABLE and invoice.related:
        related = ", ".join(f"`{r.uuid}` ({_relation(r.relation, lang)})"
                            for r in invoice.related)
        return t("card.flag_not_cancelable_related", lang, related=related)
    return t(f"card.flag_{flagged}", lang, date=last_day.isoformat())


def replacement_text(check: dict[str, Any], lang: str) -> str:
    """Reason 01: what the replacement's XML says of this invoice (bot.sat.replacement)."""
    shown = escape(check["uuid"] or check["ref"])
    return t(f"card.replacement_{check['check']}", lang, ref=shown)


def _mxn(value: str) -> str:
    amount = Decimal(value)
    return f"${amount:,.0f}" if amount == amount.to_integral_value() else f"${amount:,.2f}"


def rule_text(rule: dict[str, Any], lang: str) -> str:
    """Which APPROVAL_RULES rule sets the approvals needed, and on what (bot.policy)."""
    count = rule["approvals"]
    approvals = t("card.rule_one" if count == 1 else "card.rule_many", lang, count=count)
    applied = (t("card.rule_reached", lang, minimum=_mxn(rule["minimum"]), approvals=approvals)
               if rule["minimum"] else t("card.rule_none_reached", lang, approvals=approvals))
    if rule["basis"] == "amount":
        return t("card.rule_amount", lang, rule=applied, amount=_mxn(rule["amount"]))
    return t(f"card.rule_{rule['basis']}", lang, rule=applied)


def _relation(code: str, lang: str) -> str:
    """A relation type's name; a code the catalogue does not know, as written (escaped)."""
    key = f"cfdi.relation.{code}"
    return t(key, lang) if key in CATALOGUES[lang] else escape(code)


def prospects_line(facts: dict[str, Any], lang: str, deadline: tuple[int, int],
                   today: date) -> str:
    """Before approval: whether, until when and how the invoice can be cancelled, flagged
    when the SAT says it cannot (with the related CFDIs its XML names) or it is too late."""
    invoice = CfdiFacts(**facts["invoice"])
    sat = SatStatus(**facts["sat"]) if facts.get("sat") else None
    last_day = cancel_deadline(invoice.issued_at, deadline)
    if (flagged := flag(invoice, sat, deadline, today)) is not None:
        return "> " + flag_text(flagged, invoice, last_day, lang)
    must = needs_acceptance(invoice, sat.cancelable if sat and sat.found else None, today)
    how = (t("card.acceptance_needed", lang, date=acceptance_ends(today).isoformat()) if must
           else t("card.acceptance_not_needed", lang))
    return "> " + t("card.cancel_until", lang, date=last_day.isoformat()) + " · " + how


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
    return [context(line[:SECTION_MAX]) for line in lines]  # a reason escaped grows 5x


def invoice_line(line: dict[str, Any], lang: str) -> str:
    """`ref` — *status*: the bot's words when they add to the status (the SAT's nuance, or
    why it failed), then the provider's own words once, labelled as theirs."""
    status, said, code = line["status"], line.get("detalle"), line.get("code")
    nuance = nuance_of(said, Outcome(status)) if status in _OUTCOMES else None
    ours = ""
    if (sat_said := sat_words(line, lang)) is not None:  # the SAT's word, not the provider's
        ours, said = sat_said, None
    elif nuance:  # read from the provider's words: they are not repeated
        ours, said = t(f"nuance.{nuance}", lang), None
    elif status in _EXPLAINED and code not in _SAID_BY_STATUS:
        ours = code_text(code, lang, said)
    shown = t("reply.outcome_line", lang, ref=escape(line["ref"]),
              outcome=t(f"outcome.{status}", lang))
    if ours:
        shown = t("reply.outcome_detail", lang, line=shown, detail=ours)
    if said and escape(said) not in ours:
        shown = t("reply.provider_said", lang, line=shown, text=escape(said))
    return shown


def sat_words(line: dict[str, Any], lang: str) -> str | None:
    """What the SAT said of a cancellation, in the thread's words (its EstatusCancelacion
    drives them), or None when the line carries no word of the SAT."""
    status, hours = line["status"], f"{line.get('hours') or 0:g}"
    if line.get("code") == _AT_THE_SAT_ALREADY:
        return t("reply.sat_already_canceled", lang)
    if status == IS.UNCONFIRMED:
        off = line.get("sat_error") == "off"
        return t("reply.unconfirmed_off" if off else "reply.unconfirmed", lang, hours=hours)
    if "sat_estado" in line:
        said = t(f"sat.cancelacion.{line['sat_cancelacion']}", lang,
                 estado=t(f"sat.estado.{line['sat_estado']}", lang).lower())
    elif "sat_error" in line:
        said = t("sat.no_facts" if line["sat_error"] == "no_facts" else "sat.unanswered", lang)
    else:
        return None
    if status == IS.AWAITING_SAT:
        return t("reply.awaiting_sat", lang, said=said, hours=hours)
    return said


def changed_lines(entries: Sequence[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The invoice lines a reply is about (its outcomes and changes), in order."""
    found: list[dict[str, Any]] = []
    for kind, data in entries:
        if kind == Reply.OUTCOMES:
            found += data["invoices"]
        elif kind == Reply.RESOLVED:
            found.append(data)
    return found


def thread_reply(request: Row, entries: Sequence[tuple[str, dict[str, Any]]], *, lang: str,
                 sandbox: bool, large_at: int | None = None) -> list[dict[str, Any]]:
    """One reply for the outbox entries (kind, payload) owed to a request's thread, in as
    many messages as it needs (see `messages`). About more invoices than `large_at`, it
    summarises them (bot/large.py); the outbox attaches the CSV of them all."""
    requester, request_id = mention(request["requester_id"]), request["id"]
    lines: list[str] = []
    extra: list[Block] = []
    changed = changed_lines(entries)
    summarised = large.is_large(len(changed), large_at)
    for kind, data in entries:
        if summarised and kind in (Reply.OUTCOMES, Reply.RESOLVED):
            if changed:  # once, where the first of them was
                head = "reply.outcomes" if kind == Reply.OUTCOMES else "reply.resolved"
                lines += [t(head, lang, mention=requester, id=request_id),
                          *large.changed_lines(changed, lang,
                                               lambda line: invoice_line(line, lang))]
                changed = []
        elif kind == Reply.APPROVED:
            lines.append(t("reply.approved_by_rule" if data.get("by_rule") else
                           "reply.approved", lang, user=mention(data["user"])))
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
            if data.get("left_out"):
                left = data["left_out"]
                lines.append(t("reply.failed.left_out", lang, count=len(left)))
                lines += [invoice_line(line, lang) for line in left[:large.FIRST_SHOWN]]
                if len(left) > large.FIRST_SHOWN:
                    lines.append(t("card.more_invoices", lang,
                                   count=len(left) - large.FIRST_SHOWN))
            extra = [actions("resubmit", [button(
                t("reply.resubmit", lang), RESUBMIT_ACTION,
                f"{request_id}:{data.get('attempt') or 0}")])]
        elif kind == Reply.REJECTED:
            lines.append(t("reply.rejected", lang, mention=requester,
                           user=mention(data["user"]), reason=escape(data["reason"])))
        elif kind == Reply.EXPIRED:
            lines.append(t("reply.expired", lang, mention=requester, hours=f"{data['hours']:g}"))
    return messages("\n".join(lines), sandbox=sandbox, lang=lang, extra=extra)


def help_blocks(lang: str, sandbox: bool, unknown: str = "") -> dict[str, Any]:
    """The commands; after a word that is none of them, first that it is not one."""
    lines = [t(key, lang) for key in ("help.title", "help.cancel", "help.send", "help.status",
                                      "help.history", "help.help")]
    if unknown:
        lines.insert(0, t("help.unknown", lang, word=escape(unknown[:COMMAND_SHOWN])))
    return {"text": lines[0], "blocks": [*sections(lines), *banner(sandbox, lang)]}


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


def _invoices_input(prefill: str, limit: int, lang: str) -> Block:
    return _input(form.INVOICES, t("modal.invoices.label", lang),
                  _text_input(multiline=True, initial_value=prefill),
                  hint=t("modal.invoices.hint", lang, limit=limit))


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
    """The cancel form; shown again after its files were checked (bot.attachments), with
    what was `typed` and each of the `problems` under its field (the ack's errors cannot
    reach a form that is no longer the open view)."""
    reasons = [_option(r.value, f"{r.value} — {r.description}") for r in CancelReason]
    blocks: list[Block] = [
        *banner(sandbox, lang),
        _invoices_input(prefill, limit, lang),
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
        _input(form.XML_FILES, t("modal.xml.label", lang), {
            "action_id": "value", "filetypes": ["xml"], "max_files": XML_FILES_MAX,
            "type": "file_input"}, hint=t("modal.xml.hint", lang, limit=XML_FILES_MAX),
            optional=True),
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


def checking_modal(count: int, *, lang: str, sandbox: bool) -> dict[str, Any]:
    """What the cancel form turns into while its files are checked (bot.attachments)."""
    return notice_modal(t("modal.checking.title", lang),
                        t("modal.checking.text", lang, count=count), lang=lang, sandbox=sandbox)


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

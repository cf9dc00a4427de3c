"""Thread replies (one per batch of outbox entries) and the help text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.i18n import code_text, said_by_status, t
from bot.sat.outcomes import Outcome, nuance_of
from bot.slack.mrkdwn import escape, mention
from bot.slack.render import large
from bot.slack.render.kit import (
    COMMAND_SHOWN,
    RESUBMIT_ACTION,
    Block,
    actions,
    banner,
    button,
    messages,
    sections,
)
from storage.domain import Row, ThreadLine
from storage.states import InvoiceStatus as IS
from storage.states import ReplyKind as Reply
from storage.states import RequestKind

_OUTCOMES = {outcome.value for outcome in Outcome}
# Statuses whose reason the bot explains (the code's words); the others say it themselves.
_EXPLAINED = frozenset({IS.NOT_CANCELABLE, IS.FAILED, IS.UNKNOWN})
# The code of an invoice left out of a submission: the SAT already showed it cancelled.
_AT_THE_SAT_ALREADY = "sat:cancelado"


def invoice_line(line: ThreadLine, lang: str, provider: str | None = None) -> str:
    """`ref` — *status*: the bot's words when they add to the status (the SAT's nuance, or
    why it failed), then the provider's own words once, labelled as theirs."""
    status, said, code = line.status, line.detalle, line.code
    nuance = nuance_of(said, Outcome(status)) if status in _OUTCOMES else None
    ours = ""
    if (sat_said := sat_words(line, lang)) is not None:  # the SAT's word, not the provider's
        ours, said = sat_said, None
    elif nuance:  # read from the provider's words: they are not repeated
        ours, said = t(f"nuance.{nuance}", lang), None
    elif status in _EXPLAINED and not said_by_status(code, provider):
        ours = code_text(code, lang, said, provider)
    shown = t("reply.outcome_line", lang, ref=escape(line.ref),
              outcome=t(f"outcome.{status}", lang))
    if ours:
        shown = t("reply.outcome_detail", lang, line=shown, detail=ours)
    if said and escape(said) not in ours:
        shown = t("reply.provider_said", lang, line=shown, text=escape(said))
    return shown


def sat_words(line: ThreadLine, lang: str) -> str | None:
    """What the SAT said of a cancellation, in the thread's words (its EstatusCancelacion
    drives them), or None when the line carries no word of the SAT."""
    status, hours = line.status, f"{line.hours or 0:g}"
    if line.code == _AT_THE_SAT_ALREADY:
        return t("reply.sat_already_canceled", lang)
    if status == IS.UNCONFIRMED:
        off = line.sat_error == "off"
        return t("reply.unconfirmed_off" if off else "reply.unconfirmed", lang, hours=hours)
    if line.sat_estado is not None:
        said = t(f"sat.cancelacion.{line.sat_cancelacion}", lang,
                 estado=t(f"sat.estado.{line.sat_estado}", lang).lower())
    elif line.sat_error is not None:
        said = t("sat.no_facts" if line.sat_error == "no_facts" else "sat.unanswered", lang)
    else:
        return None
    if status == IS.AWAITING_SAT:
        return t("reply.awaiting_sat", lang, said=said, hours=hours)
    return said


def changed_lines(entries: Sequence[tuple[str, dict[str, Any]]]) -> list[ThreadLine]:
    """The invoice lines a reply is about (its outcomes and changes), in order."""
    found: list[ThreadLine] = []
    for kind, data in entries:
        if kind == Reply.OUTCOMES:
            found += [ThreadLine.of(line) for line in data["invoices"]]
        elif kind == Reply.RESOLVED:
            found.append(ThreadLine.of(data))
    return found


def thread_reply(request: Row, entries: Sequence[tuple[str, dict[str, Any]]], *, lang: str,
                 sandbox: bool, provider: str | None = None, large_at: int | None = None
                 ) -> list[dict[str, Any]]:
    """One reply for the outbox entries (kind, payload) owed to a request's thread, in as
    many messages as it needs (see `messages`). About more invoices than `large_at`, it
    summarises them (large.py); the outbox attaches the CSV of them all."""
    requester, request_id = mention(request["requester_id"]), request["id"]
    lines: list[str] = []
    extra: list[Block] = []
    changed = changed_lines(entries)
    summarised = large.is_large(len(changed), large_at)
    for kind, data in entries:
        user = mention(data["user"]) if data and "user" in data else ""
        if data and data.get("for"):  # a stand-in, in an approver's place
            user = t("delegate.in_place", lang, user=user, voter=mention(data["for"]))
        if summarised and kind in (Reply.OUTCOMES, Reply.RESOLVED):
            if changed:  # once, where the first of them was
                head = "reply.outcomes" if kind == Reply.OUTCOMES else "reply.resolved"
                lines += [t(head, lang, mention=requester, id=request_id),
                          *large.changed_lines(
                              changed, lang, lambda line: invoice_line(line, lang, provider))]
                changed = []
        elif kind == Reply.APPROVED:
            lines.append(t("reply.approved_by_rule" if data.get("by_rule") else
                           "reply.approved", lang, user=user))
        elif kind == Reply.APPROVAL_COUNTED:
            lines.append(t("reply.approval_counted", lang, user=user,
                           count=data["count"], required=data["required"]))
        elif kind == Reply.RESUBMITTED:
            lines.append(t("reply.resubmitted", lang, user=mention(data["user"])))
        elif kind == Reply.OUTCOMES:
            lines.append(t("reply.outcomes", lang, mention=requester, id=request_id))
            told = [ThreadLine.of(line) for line in data["invoices"]]
            lines += [invoice_line(line, lang, provider) for line in told]
            if request["kind"] == RequestKind.SEND and any(
                    line.status == IS.UNKNOWN for line in told):
                lines.append(t("reply.send_unknown", lang))  # what to check, in the thread
        elif kind == Reply.RESOLVED:
            head = t("reply.resolved", lang, mention=requester, id=request_id)
            if head not in lines:
                lines.append(head)
            lines.append(invoice_line(ThreadLine.of(data), lang, provider))
        elif kind == Reply.COMPLETED:
            lines.append(t("reply.completed", lang, id=request_id))
        elif kind == Reply.FAILED:
            lines.append(t("reply.failed", lang, mention=requester, id=request_id,
                           why=code_text(data.get("code"), lang, data.get("message"),
                                         provider)))
            lines.append(t(f"reply.failed.{data.get('class') or 'final_failure'}", lang))
            if data.get("left_out"):
                left = data["left_out"]
                lines.append(t("reply.failed.left_out", lang, count=len(left)))
                lines += [invoice_line(ThreadLine.of(line), lang, provider)
                          for line in left[:large.FIRST_SHOWN]]
                if len(left) > large.FIRST_SHOWN:
                    lines.append(t("card.more_invoices", lang,
                                   count=len(left) - large.FIRST_SHOWN))
            extra = [actions("resubmit", [button(
                t("reply.resubmit", lang), RESUBMIT_ACTION,
                f"{request_id}:{data.get('attempt') or 0}")])]
        elif kind == Reply.REJECTED:
            lines.append(t("reply.rejected", lang, mention=requester,
                           user=user, reason=escape(data["reason"])))
        elif kind == Reply.WITHDRAWN:
            lines.append(t("withdraw.reply", lang, user=user))
        elif kind == Reply.EXPIRED:
            lines.append(t("reply.expired", lang, mention=requester, hours=f"{data['hours']:g}"))
        elif kind == Reply.ESCALATED:  # ESCALATION_APPROVERS may decide now (bot/watching)
            people = ", ".join(f"<!subteam^{i}>" if i.startswith("S") else mention(i)
                               for i in data["to"])
            lines.append(t("remind.escalated_thread", lang, hours=f"{data['hours']:g}",
                           people=people))
    return messages("\n".join(lines), sandbox=sandbox, lang=lang, extra=extra)


def help_blocks(lang: str, sandbox: bool, unknown: str = "") -> dict[str, Any]:
    """The commands; after a word that is none of them, first that it is not one."""
    lines = [t(key, lang) for key in ("help.title", "help.cancel", "help.send", "help.status",
                                      "help.history", "help.delegate", "help.report",
                                      "help.help")]
    if unknown:
        lines.insert(0, t("help.unknown", lang, word=escape(unknown[:COMMAND_SHOWN])))
    return {"text": lines[0], "blocks": [*sections(lines), *banner(sandbox, lang)]}

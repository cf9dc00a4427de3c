"""The request card: the thread's root message, rendered again from the rows on every change."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bot.approval_rules import Basis, ReasonRule, Requirement, RfcRule, Rule, TotalRule
from bot.i18n import CATALOGUES, t
from bot.sat.cancellability import (
    COMPANIES_DEADLINE,
    Flag,
    acceptance_ends,
    cancel_deadline,
    flag,
    needs_acceptance,
    sat_today,
)
from bot.sat.cfdi import CfdiFacts
from bot.sat.reasons import CancelReason
from bot.sat.record import FactsRecord, ReplacementRecord
from bot.slack.mrkdwn import escape, mention, quote, shown_name, when
from bot.slack.render import large
from bot.slack.render.kit import (
    SECTION_MAX,
    Block,
    actions,
    banner,
    button,
    context,
    decision_buttons,
    md,
    plain,
    section,
    sections,
)
from storage.domain import Row
from storage.states import InvoiceStatus as IS
from storage.states import RequestKind
from storage.states import RequestStatus as RS

CARD_INVOICE_LINES = 40
# How the card counts invoices (the placeholders of card.counts).
_COUNT_GROUPS = {
    IS.CANCELED: "done", IS.ALREADY_CANCELED: "done", IS.SENT: "done",
    IS.PENDING: "waiting", IS.DENIED: "refused", IS.NOT_CANCELABLE: "refused",
    IS.EXPIRED: "refused", IS.FAILED: "errors", IS.UNKNOWN: "unsure",
    IS.AWAITING_SAT: "waiting", IS.UNCONFIRMED: "unsure",
}


def request_card(request: Row, invoices: Sequence[Row], decisions: Sequence[Row], *,
                 lang: str, sandbox: bool, ttl_h: float,
                 deadline: tuple[int, int] = COMPANIES_DEADLINE, zone: ZoneInfo | None = None,
                 large_at: int | None = None) -> dict[str, Any]:
    """The request card; with more invoices than `large_at`, summarised (large.py)."""
    status, sending = request["status"], request["kind"] == RequestKind.SEND
    title = t("card.send_title" if sending else "card.title", lang, id=request["id"])
    fields = [md(t("card.requester", lang, user=mention(request["requester_id"]))),
              md(t("card.status", lang, status=t(f"request.{status}", lang)))]
    if sending:
        options = json.loads(request["send_options"] or "{}")
        recipients = ", ".join(escape(e) for e in json.loads(request["recipients"] or "[]"))
        fields.append(md(t("card.recipients", lang, emails=recipients)[:1900]))
        if options.get("subject"):
            fields.append(md(t("card.subject", lang, subject=escape(options["subject"]))))
    else:  # invoices with a reason of their own say it on their line (_own_reason)
        own = any(i.get("reason") or i.get("replacement") for i in invoices)
        fields.append(md(t("bulk.card.reason_rest" if own else "card.reason", lang,
                           code=request["reason"],
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
        lines.append(f"`{escape(invoice['ref_key'])}`{_own_reason(invoice, lang)}{state}")
        if (facts := FactsRecord.of(invoice.get("facts"))) is not None:
            lines.append(facts_line(facts, lang, zone))
            if invoice["status"] == IS.REQUESTED and facts.invoice:
                lines.append(prospects_line(facts, lang, deadline, sat_today()))
                if facts.replacement:
                    lines.append("> " + replacement_text(facts.replacement, lang))
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
    if (rule := Requirement.read(request.get("approval_rule"))) is not None:
        blocks.append(context(rule_text(rule, lang)[:SECTION_MAX]))
    blocks += _decision_lines(request, decisions, lang, ttl_h, zone)
    if status == RS.AWAITING_APPROVAL:
        blocks.append(decision_buttons("decision", request["id"], lang, withdraw=True))
    blocks += banner(sandbox, lang)
    fallback = title + " — " + t(f"request.{status}", lang)
    return {"text": fallback, "blocks": blocks}


def _own_reason(invoice: Row, lang: str) -> str:
    """An invoice's own SAT reason (and replacement), beside its reference on the card."""
    reason, replacement = invoice.get("reason"), invoice.get("replacement")
    if replacement:
        return t("bulk.card.own_replacement", lang, code=reason or "01",
                 ref=escape(replacement))
    return t("bulk.card.own_reason", lang, code=reason) if reason else ""


def facts_line(facts: FactsRecord, lang: str, zone: ZoneInfo | None = None) -> str:
    """What the invoice is and what the SAT says of it, under its line on the card. Names
    and RFCs come from the invoice's XML: escaped."""
    invoice, status = facts.invoice, facts.sat
    if invoice is None:
        return "> " + t("card.facts_unavailable", lang)
    customer = escape(invoice.receiver_name or "") or "—"
    said = t("card.facts", lang, customer=customer, rfc=escape(invoice.receiver_rfc),
             total=f"${invoice.amount:,.2f} {escape(invoice.currency)}",
             date=invoice.issued_at.date().isoformat(),
             type=t(f"cfdi.type.{invoice.type.value}", lang))
    if facts.attached:  # the requester's file, not the provider's copy
        name = escape(shown_name(facts.file or ""))
        said += " · " + t("card.facts_attached", lang, name=name)
    if status is None:
        return f"> {said}\n> " + t("card.sat_unavailable", lang)
    return f"> {said}\n> " + t("card.sat", lang, estado=t(f"sat.estado.{status.state}", lang),
                                cancelable=t(f"sat.cancelable.{status.cancelable}", lang),
                                when=when(facts.sat_at or "", zone))


def flag_text(flagged: Flag, invoice: CfdiFacts, last_day: date, lang: str) -> str:
    """Why the invoice gives pause, in words (the related CFDIs its XML names, if any)."""
    if flagged is Flag.NOT_CANCELABLE and invoice.related:
        related = ", ".join(f"`{r.uuid}` ({_relation(r.relation, lang)})"
                            for r in invoice.related)
        return t("card.flag_not_cancelable_related", lang, related=related)
    return t(f"card.flag_{flagged}", lang, date=last_day.isoformat())


def replacement_text(check: ReplacementRecord, lang: str) -> str:
    """Reason 01: what the replacement's XML says of this invoice (bot.sat.replacement)."""
    shown = escape(check.uuid or check.ref)
    return t(f"card.replacement_{check.check.value}", lang, ref=shown)


def _mxn(value: str) -> str:
    amount = Decimal(value)
    return f"${amount:,.0f}" if amount == amount.to_integral_value() else f"${amount:,.2f}"


def rule_text(rule: Requirement, lang: str) -> str:
    """Which APPROVAL_RULES rule sets the approvals needed, and on what (bot/workflow/rules):
    the amount when known, or why the strictest applies; then the other rules that apply."""
    count = rule.approvals
    approvals = t("card.rule_one" if count == 1 else "card.rule_many", lang, count=count)
    applied = (_one_rule(rule.rule, approvals, lang) if rule.rule is not None
               else t("card.rule_none_reached", lang, approvals=approvals))
    if rule.assumed and isinstance(rule.rule, RfcRule):
        said = t(f"rules.{rule.basis}_rfc" if rule.basis != Basis.AMOUNT else
                 "rules.uncomparable_rfc", lang, rule=applied)
    elif rule.assumed:
        said = t(f"card.rule_{rule.basis}", lang, rule=applied)
    elif rule.amount is not None:
        said = t("card.rule_amount", lang, rule=applied, amount=_mxn(str(rule.amount)))
    else:
        said = t("rules.certain", lang, rule=applied)
    if rule.also:
        said += " · " + t("rules.also", lang, rules="; ".join(_one_rule(
            other, t("card.rule_one" if other.approvals == 1 else "card.rule_many", lang,
                     count=other.approvals), lang) for other in rule.also))
    return said


def _one_rule(rule: Rule, approvals: str, lang: str) -> str:
    if isinstance(rule, TotalRule):
        return t("card.rule_reached", lang, minimum=_mxn(str(rule.minimum)),
                 approvals=approvals)
    if isinstance(rule, ReasonRule):
        return t("rules.reason", lang, reason=rule.reason.value, approvals=approvals)
    return t("rules.rfc", lang, rfc=escape(rule.rfc), approvals=approvals)


def _relation(code: str, lang: str) -> str:
    """A relation type's name; a code the catalogue does not know, as written (escaped)."""
    key = f"cfdi.relation.{code}"
    return t(key, lang) if key in CATALOGUES[lang] else escape(code)


def prospects_line(facts: FactsRecord, lang: str, deadline: tuple[int, int],
                   today: date) -> str:
    """Before approval: whether, until when and how the invoice can be cancelled, flagged
    when the SAT says it cannot (with the related CFDIs its XML names) or it is too late."""
    invoice, sat = facts.invoice, facts.sat
    assert invoice is not None, "prospects are shown for an invoice whose XML was read"
    last_day = cancel_deadline(invoice.issued_at, deadline)
    if (flagged := flag(invoice, sat, deadline, today)) is not None:
        return "> " + flag_text(flagged, invoice, last_day, lang)
    must = needs_acceptance(invoice, sat.cancelable if sat and sat.found else None, today)
    how = (t("card.acceptance_needed", lang, date=acceptance_ends(today).isoformat()) if must
           else t("card.acceptance_not_needed", lang))
    return "> " + t("card.cancel_until", lang, date=last_day.isoformat()) + " · " + how


def decider_name(decision: Row, lang: str) -> str:
    """Who gave a decision: the approver, or "Ana (en lugar de Beto)" for a stand-in."""
    if decision.get("acted_by_id"):
        return t("delegate.in_place", lang, user=mention(decision["acted_by_id"]),
                 voter=mention(decision["user_id"]))
    return mention(decision["user_id"])


def _decision_lines(request: Row, decisions: Sequence[Row], lang: str, ttl_h: float,
                    zone: ZoneInfo | None) -> list[Block]:
    approvals = [d for d in decisions if d["decision"] == "approve"]
    rejection = next((d for d in decisions if d["decision"] == "reject"), None)
    names = ", ".join(decider_name(d, lang) for d in approvals)
    status = request["status"]
    lines = []
    if rejection is not None:
        lines.append(t("card.rejected_by", lang, user=decider_name(rejection, lang),
                       when=when(rejection["decided_at"], zone),
                       reason=escape(rejection["reason"])))
    elif status == RS.EXPIRED:
        lines.append(t("card.expired", lang, hours=f"{ttl_h:g}",
                       when=when(request["updated_at"], zone)))
    elif status == RS.WITHDRAWN:
        lines.append(t("withdraw.card", lang, user=mention(request["requester_id"]),
                       when=when(request["updated_at"], zone)))
    elif status == RS.AWAITING_APPROVAL and approvals:
        lines.append(t("card.approvals_so_far", lang, names=names, count=len(approvals),
                       required=request["approvals_required"]))
    elif approvals:
        lines.append(t("card.approved_by", lang, names=names,
                       when=when(approvals[-1]["decided_at"], zone)))
    return [context(line[:SECTION_MAX]) for line in lines]  # a reason escaped grows 5x

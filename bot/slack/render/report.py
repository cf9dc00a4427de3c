"""The report as Block Kit: a header and a few sections, well within Slack's 50 blocks and
3,000 characters a section (the lists are cut: the spreadsheet has everything)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from bot.i18n import t
from bot.reporting.figures import REASONS, STEPS, MonthReport, hours
from bot.slack.mrkdwn import escape, local
from bot.slack.render.kit import banner, context, plain, sections
from storage.sql import iso
from storage.states import InvoiceStatus as IS

# The order invoices are listed in: cancelled first, then still open, then the rest; a status
# added later is listed last rather than left out.
_FIRST = [IS.CANCELED, IS.ALREADY_CANCELED, IS.AWAITING_SAT, IS.PENDING, IS.REQUESTED,
          IS.UNCONFIRMED, IS.UNKNOWN, IS.DENIED, IS.NOT_CANCELABLE, IS.FAILED, IS.REJECTED,
          IS.EXPIRED]
_ORDER = _FIRST + [status for status in IS if status not in _FIRST]


def money(amount: Any) -> str:
    return f"${amount:,.2f}"


def report_blocks(report: MonthReport, *, lang: str, sandbox: bool, zone: ZoneInfo
                  ) -> dict[str, Any]:
    month = str(report.month)
    title = t("report.title", lang, month=month)
    if not report.total_requests:
        text = t("report.empty", lang, month=month)
        return {"text": title, "blocks": [{"text": plain(title, emoji=False), "type": "header"},
                                         *sections([text]), *banner(sandbox, lang)]}
    lines = [t("report.requests", lang, count=report.total_requests)]
    lines += [f"• {t(f'request.{status}', lang)}: {count}"
              for status, count in sorted(report.requests.items(), key=lambda kv: -kv[1])]
    lines += ["", t("report.invoices", lang, count=report.total_invoices)]
    for status in [s for s in _ORDER if s in report.invoices]:
        counts = report.invoices[status]
        by_reason = " · ".join(f"{code}: {counts.get(code, 0)}" for code in REASONS
                               if counts.get(code))
        lines.append(f"• {t(f'outcome.{status}', lang)}: {sum(counts.values())} ({by_reason})")
    lines += ["", t("report.amount", lang, amount=money(report.amount_mxn),
                    count=report.cancelled)]
    if report.amount_unknown:
        lines.append(t("report.amount_unknown", lang, count=report.amount_unknown))
    if report.customers:
        lines += ["", t("report.customers", lang)]
        lines += [t("report.customer", lang, name=escape(c.name or "—"), rfc=escape(c.rfc),
                    count=c.invoices, amount=money(c.amount)) for c in report.customers]
    lines += ["", t("report.times", lang)]
    for step in STEPS:
        spread = report.spreads[step]
        lines.append(t(f"report.time.{step}", lang, median=hours(spread.median_s),
                       p90=hours(spread.p90_s), count=spread.count))
    lines += ["", t("report.open", lang, count=report.open_total)]
    lines += [t("report.open_item", lang, ref=escape(item.ref), id=item.request_id,
                status=t(f"outcome.{item.status}", lang), since=local(item.since, zone=zone))
              for item in report.open_items]
    if report.open_total > len(report.open_items):
        lines.append(t("card.more_invoices", lang,
                       count=report.open_total - len(report.open_items)))
    blocks = [{"text": plain(title, emoji=False), "type": "header"}, *sections(lines),
              context(t("report.footer", lang, made=local(iso(report.made_at), zone=zone))),
              *banner(sandbox, lang)]
    return {"text": title, "blocks": blocks}


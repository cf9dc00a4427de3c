"""A large request (more invoices than LARGE_REQUEST_AT) in few words, within Slack's limits.

The card of a large request shows counts by status and by reason, the total in MXN, the
largest customers and the first invoices; the full list goes to its thread as a CSV file
(`invoices_csv`), and `/cfdi estado #N` (or the card's button) gives the current one. A thread
reply about many invoices says how many changed to what, shows the first lines, and attaches
the CSV of what changed (`changes_csv`). The CSV cells are neutralised as the audit export's
are (storage/export.py): a spreadsheet never runs a cell a customer's name started.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from bot.i18n import t
from bot.sat.amounts import mxn_amount
from bot.sat.cfdi import CfdiFacts
from bot.sat.reasons import CancelReason
from bot.sat.status import SatStatus
from bot.slack.mrkdwn import escape
from storage.domain import Row, ThreadLine
from storage.export import neutralise

FIRST_SHOWN = 10      # invoices (or changed lines) shown before "… and N more"
CUSTOMERS_SHOWN = 5   # the largest customers by total on the card
CSV_ACTION = "cfdi_csv"


def is_large(count: int, large_at: int | None) -> bool:
    return large_at is not None and count > large_at


def reason_of(invoice: Row, request: Row) -> str:
    """The invoice's own reason (issue 21's `invoices.reason`), else the request's."""
    return invoice.get("reason") or request.get("reason") or ""


def replacement_of(invoice: Row, request: Row) -> str:
    return invoice.get("replacement") or request.get("replacement_uuid") or ""


def _facts(invoice: Row) -> dict[str, Any]:
    return json.loads(invoice.get("facts") or "null") or {}


def _money(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def _counted(counts: Counter[str], word: Callable[[str], str]) -> str:
    return " · ".join(f"{word(key)} {n:,}" for key, n in counts.most_common())


def card_lines(request: Row, invoices: Sequence[Row], lang: str) -> list[str]:
    """The summary at the top of a large request's card: counts by status and by reason,
    the total in MXN (and how many invoices it leaves out), the largest customers."""
    statuses = Counter(str(i["status"]) for i in invoices)
    reasons = Counter(reason_of(i, request) for i in invoices)
    lines = [t("large.by_status", lang, counts=_counted(
                 statuses, lambda s: t(f"outcome.{s}", lang))),
             t("large.by_reason", lang, counts=_counted(
                 reasons, lambda r: f"{r} — {CancelReason(r).description}:" if r else "—"))]
    total, unknown = Decimal(0), 0
    customers: dict[str, tuple[str, Decimal, int]] = {}
    for invoice in invoices:
        found = _facts(invoice).get("invoice")
        amount = mxn_amount(CfdiFacts(**found)) if found else None
        if found is None or amount is None:
            unknown += 1
            continue
        total += amount
        key = found["receiver_rfc"]
        _, so_far, count = customers.get(key, ("", Decimal(0), 0))
        customers[key] = (found.get("receiver_name") or "", so_far + amount, count + 1)
    lines.append(t("large.total", lang, total=_money(total), counted=f"{len(invoices) - unknown:,}")
                 + (" " + t("large.total_unknown", lang, count=f"{unknown:,}") if unknown else ""))
    largest = sorted(customers.items(), key=lambda item: (-item[1][1], item[0]))
    if largest:
        lines.append(t("large.customers", lang))
        lines += [t("large.customer", lang, name=escape(name) or "—", rfc=escape(rfc),
                    total=_money(amount), count=count)
                  for rfc, (name, amount, count) in largest[:CUSTOMERS_SHOWN]]
    return lines


def changed_lines(lines: Sequence[ThreadLine], lang: str,
                  shown: Callable[[ThreadLine], str]) -> list[str]:
    """A reply about many invoices: how many went to each status, the first lines (each as
    `shown` words it), and that the CSV of them all is attached."""
    counts = Counter(str(line.status) for line in lines)
    said = [t("large.changes", lang, counts=_counted(
        counts, lambda s: t(f"outcome.{s}", lang))),
            *(shown(line) for line in lines[:FIRST_SHOWN])]
    if len(lines) > FIRST_SHOWN:
        said.append(t("large.more_in_csv", lang, count=len(lines) - FIRST_SHOWN))
    return said


# -- the CSV files ----------------------------------------------------------------------------

def _header(lang: str) -> list[str]:
    return [t(f"large.csv.{column}", lang) for column in (
        "invoice", "customer", "rfc", "total", "currency", "sat", "reason", "replacement",
        "outcome", "detail")]


def _row(invoice: Row, request: Row, status: str, detail: str | None, lang: str) -> list[str]:
    facts = _facts(invoice)
    found, sat = facts.get("invoice") or {}, facts.get("sat")
    return [invoice["ref_key"], found.get("receiver_name") or "", found.get("receiver_rfc") or "",
            found.get("total") or "", found.get("currency") or "",
            t(f"sat.estado.{SatStatus(**sat).state}", lang) if sat else "",
            reason_of(invoice, request), replacement_of(invoice, request),
            t(f"outcome.{status}", lang), detail or ""]


def _csv(rows: Iterable[list[str]], lang: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_header(lang))
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
    return "\ufeff" + out.getvalue()  # Excel reads UTF-8 with its BOM


def invoices_csv(request: Row, invoices: Sequence[Row], lang: str) -> str:
    """Every invoice of the request as it stands: what it is, what the SAT says, the reason,
    what became of it."""
    return _csv((_row(i, request, i["status"], i.get("detalle"), lang) for i in invoices), lang)


def changes_csv(request: Row, lines: Sequence[ThreadLine], invoices: Sequence[Row],
                lang: str) -> str:
    """The invoices a reply is about, with the status the reply gave each."""
    by_ref = {i["ref_key"]: i for i in invoices}
    return _csv((_row(by_ref.get(line.ref) or {"ref_key": line.ref}, request,
                      line.status, line.detalle, lang) for line in lines), lang)


def list_filename(request_id: int) -> str:
    return f"solicitud-{request_id}-facturas.csv"


def changes_filename(request_id: int, first_outbox_id: int) -> str:
    return f"solicitud-{request_id}-cambios-{first_outbox_id}.csv"

"""The month's figures, computed from the rows storage.reporting reads: requests by outcome,
invoices by status and SAT reason, the amount cancelled in MXN, the customers with the most,
the times each step took, and what is still open.

An invoice's amount is its XML's total, in MXN at the exchange rate the XML states
(bot.workflow.rules.mxn_amount); an invoice whose facts were never read, or whose rate
is missing, is counted apart as "amount unknown", never as zero.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bot.reporting.months import Month
from bot.sat.cfdi import CfdiFacts
from bot.sat.record import FactsRecord
from bot.workflow.rules import mxn_amount
from storage.domain import Row
from storage.states import FINAL_INVOICE
from storage.states import InvoiceStatus as IS

REASONS = ("01", "02", "03", "04")
TOP_CUSTOMERS = 5
OPEN_SHOWN = 10
# The steps timed, each from one recorded moment to another (storage.reporting).
STEPS = ("approval", "provider", "sat")


@dataclass(frozen=True)
class Spread:
    """Median and 90th percentile (nearest rank) of a step's durations, in seconds."""

    count: int
    median_s: float | None
    p90_s: float | None

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Spread:
        ordered = sorted(seconds)
        if not ordered:
            return cls(0, None, None)
        return cls(len(ordered), rank(ordered, 0.5), rank(ordered, 0.9))


def rank(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank percentile: the smallest value with at least q of them at or below."""
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


@dataclass
class Customer:
    """A receiver of the month's cancelled invoices (the amount: those known in MXN)."""

    rfc: str
    name: str | None
    invoices: int = 0
    amount: Decimal = Decimal(0)


@dataclass(frozen=True)
class Line:
    """One invoice of the month, as the spreadsheet lists it."""

    request_id: int
    requested_at: str
    requester: str
    approvers: str
    reason: str
    replacement: str
    ref: str
    uuid: str
    customer: str
    rfc: str
    total: str
    currency: str
    exchange_rate: str
    amount_mxn: Decimal | None
    status: str
    code: str
    provider_words: str
    sat_status: str
    approved_at: str
    answered_at: str
    confirmed_at: str


@dataclass(frozen=True)
class OpenItem:
    """An invoice of the month not yet settled, and since when it waits."""

    request_id: int
    ref: str
    status: str
    since: str


@dataclass
class Week:
    """A week of the month (its days within the month), by the requests' creation."""

    start: date
    end: date
    cancelled: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    amount: Decimal = Decimal(0)


@dataclass
class MonthReport:
    """Everything the message, the chart and the spreadsheet show about one month."""

    month: Month
    made_at: datetime
    requests: dict[str, int]
    invoices: dict[str, dict[str, int]]      # status -> reason -> count
    cancelled: int
    amount_mxn: Decimal
    amount_unknown: int                      # cancelled invoices whose MXN total is unknown
    customers: list[Customer]
    spreads: dict[str, Spread]
    open_items: list[OpenItem]
    open_total: int
    weeks: list[Week]
    lines: list[Line]

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_invoices(self) -> int:
        return len(self.lines)


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _between(start: str | None, end: str | None) -> float | None:
    first, last = _moment(start), _moment(end)
    return (last - first).total_seconds() if first and last else None


def _facts(row: Row) -> tuple[CfdiFacts | None, str | None]:
    """The invoice's CFDI facts, and the SAT's Estado, from its facts record (a record that
    cannot be read counts as no facts: its amount is unknown)."""
    try:
        record = FactsRecord.of(row["facts"])
    except ValidationError:
        return None, None
    if record is None:
        return None, None
    return record.invoice, record.sat.estado if record.sat else None


def weeks_of(month: Month) -> list[Week]:
    """Monday-to-Sunday weeks, cut at the month's first and last day."""
    weeks: list[Week] = []
    for day in month.days():
        if not weeks or day.weekday() == 0:
            weeks.append(Week(day, day))
        weeks[-1].end = day
    return weeks


def build(month: Month, requests: Sequence[Row], rows: Sequence[Row], zone: ZoneInfo,
          made_at: datetime) -> MonthReport:
    """The report of `month` from the month's requests and invoices (storage.reporting)."""
    by_status = Counter(r["status"] for r in requests)
    invoices: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(REASONS, 0))
    weeks = weeks_of(month)
    customers: dict[str, Customer] = {}
    durations: dict[str, list[float]] = {step: [] for step in STEPS}
    approvals_timed: set[int] = set()
    amount, unknown, cancelled = Decimal(0), 0, 0
    lines: list[Line] = []
    open_items: list[OpenItem] = []
    for row in rows:
        reason, status = row["reason"] or "", row["status"]
        invoices[status][reason] = invoices[status].get(reason, 0) + 1
        facts, sat = _facts(row)
        mxn = mxn_amount(facts) if facts else None
        if status == IS.CANCELED:
            cancelled += 1
            day = datetime.fromisoformat(row["created_at"].replace("Z", "+00:00")) \
                .astimezone(zone).date()
            week = next(w for w in weeks if w.start <= day <= w.end)
            week.cancelled[reason] = week.cancelled.get(reason, 0) + 1
            if mxn is None:
                unknown += 1
            else:
                amount += mxn
                week.amount += mxn
            if facts is not None:
                who = customers.setdefault(facts.receiver_rfc,
                                           Customer(facts.receiver_rfc, facts.receiver_name))
                who.invoices += 1
                who.amount += mxn or 0
        if row["request_id"] not in approvals_timed:
            approvals_timed.add(row["request_id"])
            if (took := _between(row["created_at"], row["approved_at"])) is not None:
                durations["approval"].append(took)
        if (took := _between(row["approved_at"], row["answered_at"])) is not None:
            durations["provider"].append(took)
        if (took := _between(row["approved_at"], row["confirmed_at"])) is not None:
            durations["sat"].append(took)
        if status not in FINAL_INVOICE:
            since = row["pending_since"] or row["approved_at"] or row["created_at"]
            open_items.append(OpenItem(row["request_id"], row["ref_key"], status, since))
        lines.append(_line(row, facts, sat, mxn))
    open_items.sort(key=lambda item: item.since)
    top = sorted(customers.values(),
                 key=lambda c: (-c.invoices, -c.amount, c.rfc))[:TOP_CUSTOMERS]
    return MonthReport(
        month=month, made_at=made_at, requests=dict(by_status),
        invoices={status: dict(counts) for status, counts in invoices.items()},
        cancelled=cancelled, amount_mxn=amount, amount_unknown=unknown, customers=top,
        spreads={step: Spread.of(values) for step, values in durations.items()},
        open_items=open_items[:OPEN_SHOWN], open_total=len(open_items), weeks=weeks,
        lines=lines)


def _line(row: Row, facts: CfdiFacts | None, sat: str | None, mxn: Decimal | None) -> Line:
    return Line(
        request_id=row["request_id"], requested_at=row["created_at"],
        requester=row["requester_name"], approvers=row["approvers"] or "",
        reason=row["reason"] or "", replacement=row["replacement_uuid"] or "",
        ref=row["ref_key"], uuid=(facts.uuid if facts else row["uuid"]) or "",
        customer=(facts.receiver_name or "") if facts else "",
        rfc=facts.receiver_rfc if facts else "", total=facts.total if facts else "",
        currency=facts.currency if facts else "",
        exchange_rate=(facts.exchange_rate or "") if facts else "", amount_mxn=mxn,
        status=row["status"], code=row["code"] or "", provider_words=row["detalle"] or "",
        sat_status=sat or "", approved_at=row["approved_at"] or "",
        answered_at=row["answered_at"] or "", confirmed_at=row["confirmed_at"] or "")


def hours(seconds: float | None) -> str:
    """A duration as people read it: minutes under two hours, else hours, else days."""
    if seconds is None:
        return "—"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def weekday_span(week: Week) -> str:
    return f"{week.start:%d}–{(week.end):%d}" if week.end > week.start else f"{week.start:%d}"


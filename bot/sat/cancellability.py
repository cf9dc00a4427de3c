"""Until when an invoice can be cancelled, whether its receiver must accept, and for how long.

The SAT's rules since 2022, as the card applies them (docs/sat.md lists the sources):
- an invoice can be cancelled only until the deadline of the annual return of the fiscal
  year it was issued in (March 31 of the next year for companies, April 30 for people:
  configurable, ANNUAL_RETURN_DEADLINE);
- the receiver must accept within 3 business days (silence counts as acceptance) unless the
  invoice is exempt: a total up to $1,000 (MXN), payroll (N), a credit note (E), a transfer
  (T), a sale to the general public (receiver XAXX010101000), or a cancellation by the next
  business day after it was issued. The SAT's own EsCancelable, when it answered, is
  preferred to these rules (it knows what the XML does not).
Business days are Monday to Friday except Mexico's official holidays (bot.sat.calendar);
the SAT may declare other days off (shown as "about").
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from bot.sat.calendar import OFFICIAL, SAT_ZONE
from bot.sat.cfdi import CfdiFacts, CfdiType
from bot.sat.status import Cancelable, Estado, SatStatus

PUBLIC_RFC = "XAXX010101000"
SMALL_TOTAL = Decimal("1000")
EXEMPT_TYPES = {CfdiType.NOMINA, CfdiType.EGRESO, CfdiType.TRASLADO}
ACCEPTANCE_DAYS = 3


def sat_today() -> date:
    return datetime.now(SAT_ZONE).date()


# The annual return's deadline for companies (March 31 of the next year): ANNUAL_RETURN_DEADLINE's
# default.
COMPANIES_DEADLINE: tuple[int, int] = (3, 31)


def cancel_deadline(issued_at: datetime, month_day: tuple[int, int] = COMPANIES_DEADLINE
                    ) -> date:
    """The last day the invoice can be cancelled: the annual return's deadline of the year
    after the one it was issued in."""
    month, day = month_day
    return date(issued_at.year + 1, month, day)


def add_business_days(start: date, days: int) -> date:
    """The SAT's count: weekends and Mexico's official holidays skipped."""
    return OFFICIAL.add_business_days(start, days)


def exempt(facts: CfdiFacts, today: date) -> bool:
    """The XML alone says no acceptance is needed."""
    small = facts.currency == "MXN" and facts.amount <= SMALL_TOTAL
    next_business_day = add_business_days(facts.issued_at.date(), 1)
    return (small or facts.type in EXEMPT_TYPES or facts.receiver_rfc == PUBLIC_RFC
            or today <= next_business_day)


def needs_acceptance(facts: CfdiFacts, sat: Cancelable | None, today: date) -> bool | None:
    """True when the receiver will have to accept, False when not, None when it cannot be
    cancelled at all (the SAT says so)."""
    if sat is Cancelable.NOT_CANCELABLE:
        return None
    if sat is Cancelable.WITHOUT_ACCEPTANCE:
        return False
    if sat is Cancelable.WITH_ACCEPTANCE:  # still exempt when cancelled by the next day
        return today > add_business_days(facts.issued_at.date(), 1)
    return not exempt(facts, today)


class Flag(StrEnum):
    """Why an invoice should give an approver pause."""

    ALREADY_CANCELLED = "already_cancelled"   # the SAT shows it cancelled
    NOT_CANCELABLE = "not_cancelable"         # the SAT says it cannot be (related CFDIs)
    TOO_LATE = "too_late"                     # past its fiscal year's deadline


def flag(facts: CfdiFacts, sat: SatStatus | None, deadline: tuple[int, int], today: date
         ) -> Flag | None:
    if sat is not None and sat.state is Estado.CANCELADO:
        return Flag.ALREADY_CANCELLED
    if sat is not None and sat.found and sat.cancelable is Cancelable.NOT_CANCELABLE:
        return Flag.NOT_CANCELABLE
    if today > cancel_deadline(facts.issued_at, deadline):
        return Flag.TOO_LATE
    return None


def acceptance_ends(asked_on: date) -> date:
    """The end of the receiver's window for a request made on `asked_on`."""
    return add_business_days(asked_on, ACCEPTANCE_DAYS)

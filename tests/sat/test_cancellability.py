"""Until when an invoice can be cancelled and whether its receiver must accept
(bot.sat.cancellability): the SAT's rules, with the SAT's own answer first."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.sat.calendar import official_holiday
from bot.sat.cancellability import (
    acceptance_ends,
    add_business_days,
    cancel_deadline,
    needs_acceptance,
)
from bot.sat.cfdi import CfdiFacts, CfdiType
from bot.sat.status import Cancelable

FRIDAY = date(2026, 11, 20)


def invoice(total: str = "5000.00", kind: CfdiType = CfdiType.INGRESO,
            receiver: str = "URE180429TM6", issued: datetime = datetime(2026, 10, 1, 12),
            currency: str = "MXN") -> CfdiFacts:
    return CfdiFacts(version="4.0", uuid="9A1B2C3D-4E5F-4A6B-8C7D-0E1F2A3B4C5D",
                     issuer_rfc="EKU9003173C9", receiver_rfc=receiver, total=total,
                     currency=currency, issued_at=issued, type=kind)


def test_the_deadline_is_the_annual_return_of_the_year_after() -> None:
    assert cancel_deadline(datetime(2025, 12, 31, 23, 59)) == date(2026, 3, 31)
    assert cancel_deadline(datetime(2025, 1, 1), (4, 30)) == date(2026, 4, 30)


def test_the_receivers_window_is_three_business_days() -> None:
    assert acceptance_ends(FRIDAY) == date(2026, 11, 25)          # Mon, Tue, Wed
    assert acceptance_ends(date(2026, 11, 22)) == date(2026, 11, 25)  # from a Sunday


@given(st.dates(date(2020, 1, 1), date(2035, 1, 1)), st.integers(0, 30))
def test_business_days_skip_weekends_and_holidays_and_count_exactly(start: date, days: int
                                                                    ) -> None:
    end = add_business_days(start, days)
    between = [start + timedelta(n) for n in range(1, (end - start).days + 1)]
    assert sum(d.weekday() < 5 and not official_holiday(d) for d in between) == days
    assert days == 0 or (end.weekday() < 5 and not official_holiday(end))


@pytest.mark.parametrize(("facts", "expected"), [
    (invoice(), True),                                        # income above $1,000
    (invoice(total="1000.00"), False),                        # up to $1,000
    (invoice(total="999.00", currency="USD"), True),          # $1,000 means pesos
    (invoice(kind=CfdiType.EGRESO), False),                   # credit note
    (invoice(kind=CfdiType.NOMINA), False),                   # payroll
    (invoice(kind=CfdiType.TRASLADO), False),                 # transfer
    (invoice(receiver="XAXX010101000"), False),               # the general public
    (invoice(issued=datetime(2026, 11, 19, 18)), False),      # by the next business day
    (invoice(issued=datetime(2026, 11, 18, 18)), True),       # two business days later
])
def test_acceptance_from_the_xml_alone(facts: CfdiFacts, expected: bool) -> None:
    assert needs_acceptance(facts, None, FRIDAY) is expected


def test_the_sats_word_comes_first() -> None:
    small = invoice(total="10.00")
    assert needs_acceptance(small, Cancelable.WITH_ACCEPTANCE, FRIDAY) is True
    assert needs_acceptance(invoice(), Cancelable.WITHOUT_ACCEPTANCE, FRIDAY) is False
    assert needs_acceptance(invoice(), Cancelable.NOT_CANCELABLE, FRIDAY) is None
    fresh = invoice(issued=datetime(2026, 11, 19, 9))  # still the next business day
    assert needs_acceptance(fresh, Cancelable.WITH_ACCEPTANCE, FRIDAY) is False

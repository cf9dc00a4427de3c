"""The business calendar (bot.sat.calendar): weekends, Mexico's official holidays, the
company's own days off and hours; and the receiver's countdown that uses it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import ConfigError, load_settings
from bot.sat.calendar import OFFICIAL, BusinessCalendar, official_holiday
from bot.sat.cancellability import acceptance_ends
from bot.sat.record import FactsRecord
from bot.slack.render.card import prospects_line

MX = ZoneInfo("America/Mexico_City")
COMPANY = BusinessCalendar(zone=MX, extra=frozenset({date(2026, 12, 24)}),
                           yearly=frozenset({(12, 12)}), opens=time(9), closes=time(18))


def at(day: date, hour: float) -> datetime:
    return datetime.combine(day, time(int(hour), round(hour % 1 * 60)), MX)


def test_mexicos_official_holidays_are_not_business_days() -> None:
    revolution = date(2026, 11, 16)  # third Monday of November
    assert official_holiday(revolution) and not OFFICIAL.is_business_day(revolution)
    assert official_holiday(date(2027, 2, 1))  # first Monday of February
    assert not OFFICIAL.is_business_day(date(2026, 12, 5))  # a Saturday
    assert OFFICIAL.is_business_day(date(2026, 12, 24))     # not official...
    assert not COMPANY.is_business_day(date(2026, 12, 24))  # ... the company's own
    assert not COMPANY.is_business_day(date(2028, 12, 12))  # every year (a Tuesday)
    assert COMPANY.is_business_day(date(2028, 12, 13))


def test_the_receivers_countdown_skips_a_holiday() -> None:
    # Asked on Friday 13 November 2026: Monday 16 is the Revolution's day, so the three
    # business days are Tuesday, Wednesday, Thursday.
    assert acceptance_ends(date(2026, 11, 13)) == date(2026, 11, 19)
    assert acceptance_ends(date(2026, 11, 20)) == date(2026, 11, 25)  # no holiday: Wed


def test_the_card_shows_the_countdown_past_the_holiday() -> None:
    facts = {"invoice": {"version": "4.0", "uuid": "9A1B2C3D-4E5F-4A6B-8C7D-0E1F2A3B4C5D",
                         "issuer_rfc": "EKU9003173C9", "receiver_rfc": "URE180429TM6",
                         "total": "5000.00", "currency": "MXN",
                         "issued_at": "2026-10-01T12:00:00", "type": "I"}}
    record = FactsRecord.of(facts)
    assert record is not None
    line = prospects_line(record, "en", (3, 31), date(2026, 11, 13))
    assert "2026-11-19" in line, line


def test_business_hours_count_only_open_hours_of_business_days() -> None:
    friday, monday, tuesday = date(2026, 11, 13), date(2026, 11, 16), date(2026, 11, 17)
    assert COMPANY.business_hours(at(friday, 17), at(tuesday, 10)) == 2  # Monday a holiday
    assert COMPANY.after(at(friday, 17), 2) == at(tuesday, 10).astimezone(UTC)
    assert COMPANY.after(at(monday, 12), 0) == at(tuesday, 9).astimezone(UTC)
    assert COMPANY.business_hours(at(tuesday, 8), at(tuesday, 8.5)) == 0
    assert COMPANY.is_open(at(tuesday, 9)) and not COMPANY.is_open(at(tuesday, 18))
    assert not COMPANY.is_open(at(monday, 12))


@given(st.datetimes(datetime(2025, 1, 1), datetime(2030, 1, 1)),
       st.floats(0, 200, allow_nan=False))
def test_after_and_business_hours_agree(start: datetime, hours: float) -> None:
    begin = start.replace(tzinfo=MX)
    end = COMPANY.after(begin, hours)
    assert abs(COMPANY.business_hours(begin, end) - hours) < 1e-6
    assert end >= begin


@given(st.dates(date(2020, 1, 1), date(2035, 1, 1)), st.integers(0, 30))
def test_business_days_count_exactly(start: date, days: int) -> None:
    end = OFFICIAL.add_business_days(start, days)
    between = [start + timedelta(n) for n in range(1, (end - start).days + 1)]
    assert sum(OFFICIAL.is_business_day(d) for d in between) == days


def test_the_settings_build_the_calendar() -> None:
    settings = load_settings(_env_file=None, extra_holidays="2026-12-24, 12-12",
                             business_hours="08:30-17:00", timezone="America/Monterrey")
    calendar = settings.calendar
    assert calendar.extra == {date(2026, 12, 24)} and calendar.yearly == {(12, 12)}
    assert (calendar.opens, calendar.closes) == (time(8, 30), time(17))
    assert calendar.zone == ZoneInfo("America/Monterrey")


@pytest.mark.parametrize(("setting", "value"), [
    ("business_hours", "18:00-09:00"), ("business_hours", "nueve a seis"),
    ("extra_holidays", "2026-12-24,31-12"), ("remind_after_h", "-1"),
    ("last_reminder_h", "pronto"), ("digest_hour", "24"), ("digest_hour", "8h"),
    ("escalate_after_h", "-0.5"), ("escalation_approvers", "jefa@empresa.mx"),
])
def test_a_bad_time_setting_is_one_sentence_naming_it(setting: str, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(_env_file=None, **{setting: value})
    assert len(refused.value.problems) == 1
    assert refused.value.problems[0].startswith(setting.upper())


def test_times_accept_fractions_of_an_hour_and_the_digest_can_be_off() -> None:
    settings = load_settings(_env_file=None, remind_after_h="0.25", last_reminder_h="0.5",
                             escalate_after_h="1.5", digest_hour="08:30")
    assert (settings.remind_after_h, settings.last_reminder_h, settings.escalate_after_h,
            settings.digest_hour) == (0.25, 0.5, 1.5, 8.5)
    assert load_settings(_env_file=None, digest_hour="off").digest_hour is None

"""Months as people name them (AAAA-MM, in TIMEZONE), and when the monthly report is due:
the first business day of the next month, by the company's calendar."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in TIMEZONE (`2026-11`)."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month | None:
        """`AAAA-MM`; None for anything else (a month 13, a year before 2000)."""
        match = _MONTH.match(text)
        if match is None:
            return None
        year, month = int(match[1]), int(match[2])
        return cls(year, month) if 2000 <= year <= 9999 and 1 <= month <= 12 else None

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """Its first and the next month's first midnight in `zone`, as UTC times."""
        start = datetime.combine(self.first, time(), zone)
        end = datetime.combine(self.next().first, time(), zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def days(self) -> list[date]:
        day, last = self.first, self.next().first
        out = []
        while day < last:
            out.append(day)
            day += timedelta(days=1)
        return out


def last_closed(now: datetime, zone: ZoneInfo) -> Month:
    """The month before the one `now` falls in, in `zone`."""
    return Month.of(now.astimezone(zone).date()).previous()


class Calendar(Protocol):
    """What says whether a day is a business day (bot.sat.calendar.BusinessCalendar: the
    weekends, Mexico's official holidays and EXTRA_HOLIDAYS; Settings.calendar)."""

    def is_business_day(self, day: date) -> bool: ...


def first_business_day(month: Month, calendar: Calendar) -> date:
    day = month.first
    while not calendar.is_business_day(day):
        day += timedelta(days=1)
    return day


def send_time(month: Month, hour: float, zone: ZoneInfo, calendar: Calendar) -> datetime:
    """When the report of `month` is sent: the next month's first business day at `hour`
    (fractions are minutes: 8.5 is 08:30) in `zone`, as an aware time."""
    minutes = round(hour * 60)
    day = first_business_day(month.next(), calendar)
    return datetime.combine(day, time(minutes // 60, minutes % 60), zone)


def due(now: datetime, hour: float, zone: ZoneInfo, calendar: Calendar) -> Month:
    """The latest month whose report time has come at `now`: the last closed month once its
    send time has passed, else the one before."""
    month = last_closed(now, zone)
    return month if now >= send_time(month, hour, zone, calendar) else month.previous()

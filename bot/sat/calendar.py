"""Business days and hours: Mexico's weekends and official holidays, a company's own days off,
and its working hours in its time zone.

The official holidays come from the `holidays` library (Mexico's Ley Federal del Trabajo,
art. 74: the days the SAT does not count either). The SAT's countdowns (the receiver's 3
business days, bot.sat.cancellability) count those alone (OFFICIAL): a company's day off does
not stop the SAT's clock. The bot's reminders, digest and escalation use the company's
calendar (Settings.calendar): EXTRA_HOLIDAYS too, and only BUSINESS_HOURS count.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

SAT_ZONE = ZoneInfo("America/Mexico_City")  # the SAT's days are Mexico's
# Looked up lazily, year by year, as dates are asked about (the library's own cache).
_MEXICO = holidays.country_holidays("MX")
_SEARCH_DAYS = 3660  # no calendar has ten years without a working day: a bound, not a limit


def official_holiday(day: date) -> bool:
    """One of Mexico's official holidays (Jan 1, the Constitution's, Juárez's, May 1,
    Sep 16, the Revolution's, Dec 25, the change of the federal executive)."""
    return day in _MEXICO


@dataclass(frozen=True)
class BusinessCalendar:
    """Which days and hours are working ones, in one time zone."""

    zone: ZoneInfo = SAT_ZONE
    extra: frozenset[date] = frozenset()          # the company's own days off
    yearly: frozenset[tuple[int, int]] = frozenset()  # (month, day) off every year
    opens: time = time.min     # without hours (the SAT's), a business day counts whole
    closes: time = time.max

    def is_business_day(self, day: date) -> bool:
        return (day.weekday() < 5 and not official_holiday(day) and day not in self.extra
                and (day.month, day.day) not in self.yearly)

    def add_business_days(self, start: date, days: int) -> date:
        """The `days`-th business day after `start` (`start` itself never counts)."""
        current = start
        while days > 0:
            current += timedelta(days=1)
            if self.is_business_day(current):
                days -= 1
        return current

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def is_open(self, moment: datetime) -> bool:
        """A business day, within business hours (in the calendar's zone)."""
        here = self.local(moment)
        return self.is_business_day(here.date()) and self.opens <= here.time() < self.closes

    def _windows(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The business hours from `start` on, one (from, to) per business day, in UTC."""
        day = self.local(start).date()
        for _ in range(_SEARCH_DAYS):
            if (window := _window(self, day)) is not None and window[1] > start:
                yield max(window[0], start.astimezone(UTC)), window[1]
            day += timedelta(days=1)

    def business_hours(self, start: datetime, end: datetime) -> float:
        """How many business hours lie between `start` and `end`."""
        total = 0.0
        for opens, closes in self._windows(start):
            if opens >= end:
                break
            total += (min(closes, end) - opens).total_seconds()
        return total / 3600

    def after(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` business hours after `start` (in UTC); with 0, the first
        business moment at or after it."""
        left = timedelta(hours=hours)
        for opens, closes in self._windows(start):
            if opens + left < closes or (left and opens + left == closes):
                return opens + left
            left -= closes - opens
        raise ValueError("no business day in ten years")  # only a calendar without days


@functools.lru_cache(maxsize=4096)
def _window(calendar: BusinessCalendar, day: date) -> tuple[datetime, datetime] | None:
    """A day's business hours in UTC (None on a day off): each reminders' sweep asks about
    the same few days for every request (a third of its cost, uncached)."""
    if not calendar.is_business_day(day):
        return None
    return (datetime.combine(day, calendar.opens, calendar.zone).astimezone(UTC),
            datetime.combine(day, calendar.closes, calendar.zone).astimezone(UTC))


OFFICIAL = BusinessCalendar()

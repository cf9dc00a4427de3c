"""Settings of approvals: who asks and who approves, how many approvals (by amount, reason,
customer), how long a request waits, and the business calendar its reminders and escalation
keep."""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

from bot.approval_rules import Rule, parse_rules
from bot.config.slack import SLACK_ID, IdList


def clock_time(text: str) -> time:
    """HH:MM (24:00 is the end of the day)."""
    text = text.strip()
    if text == "24:00":
        return time.max
    if not re.fullmatch(r"\d{1,2}:\d{2}", text):
        raise ValueError("not HH:MM")
    return time.fromisoformat(text.zfill(5))


def hour_of_day(value: Any) -> Any:
    """An hour setting as a number of hours: `8.5` as it is, `08:30` turned into 8.5."""
    if isinstance(value, str) and ":" in value:
        try:
            moment = clock_time(value)
        except ValueError:
            raise ValueError("not an hour (8.5) nor HH:MM") from None
        return moment.hour + moment.minute / 60
    return value


class ApprovalSettings(BaseSettings):
    """Who may ask and approve, how many approvals a request needs, and when they are
    reminded."""

    approvers: IdList = Field(default_factory=list)

    requesters: IdList = Field(default_factory=list)

    reporters: IdList = Field(default_factory=list)   # besides approvers: the monthly report

    required_approvals: int = Field(1, ge=0, le=5)

    # More approvers for some cancellations: by total in MXN, SAT reason, customer RFC. What
    # each looks at: bot/approval_rules.py; when it is known: bot/workflow/rules.py.
    approval_rules: Annotated[list[Rule], NoDecode] = Field(default_factory=list)

    send_requires_approval: bool = False

    approval_ttl_h: float = Field(72.0, gt=0)

    max_invoices: int = Field(5000, ge=1, le=20000)  # a file's rows; typed: 3,000 characters
    # More invoices than this make a large request: its card and thread replies summarise
    # (counts, totals, the first invoices) and the lists go as CSV files (large.py).
    large_request_at: int = Field(40, ge=1, le=1000)

    # The business calendar (bot/sat/calendar.py): weekends and Mexico's official holidays
    # are off; these are the company's own days off and its working hours, in TIMEZONE.
    business_hours: str = "09:00-18:00"

    extra_holidays: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Approvals that never stall (bot/watching/reminders.py), in business hours: each
    # approver who may still decide is reminded once after REMIND_AFTER_H and once more
    # when LAST_REMINDER_H are left before APPROVAL_TTL_H expires the request; a digest at
    # DIGEST_HOUR each business day; after ESCALATE_AFTER_H the request goes to
    # ESCALATION_APPROVERS too.
    remind_after_h: float = Field(4.0, ge=0)

    last_reminder_h: float = Field(2.0, ge=0)

    digest_hour: float | None = Field(9.0, ge=0, lt=24)

    escalate_after_h: float = Field(24.0, ge=0)

    escalation_approvers: IdList = Field(default_factory=list)

    @field_validator("approvers", "requesters", "escalation_approvers", "reporters",
                     "extra_holidays", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("approval_rules", mode="before")
    @classmethod
    def _parse_rules(cls, value: Any) -> Any:
        return parse_rules(value) if isinstance(value, str) else value

    @field_validator("approvers", "requesters", "escalation_approvers", "reporters")
    @classmethod
    def _check_ids(cls, value: list[str]) -> list[str]:
        bad = [item for item in value if not SLACK_ID.match(item)]
        if bad:
            raise ValueError(f"not Slack user or group IDs: {', '.join(bad)}")
        return value

    @field_validator("business_hours")
    @classmethod
    def _check_hours(cls, value: str) -> str:
        opens, _, closes = value.strip().partition("-")
        try:
            if clock_time(opens) >= clock_time(closes):
                raise ValueError("closes before it opens")
        except ValueError as exc:
            raise ValueError(str(exc) if "closes" in str(exc) else "not HH:MM-HH:MM") from None
        return value.strip()

    @field_validator("extra_holidays")
    @classmethod
    def _check_holidays(cls, value: list[str]) -> list[str]:
        for day in value:
            try:
                date.fromisoformat(day if len(day) == 10 else f"2000-{day}")  # a leap year
            except ValueError:
                raise ValueError(f"{day[:20]!r} is not YYYY-MM-DD nor MM-DD") from None
        return value

    @field_validator("digest_hour", mode="before")
    @classmethod
    def _digest_off(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("off", "none", ""):
            return None
        return hour_of_day(value)

"""Settings of the controller's monthly report (bot/reporting): where and when it is sent
without asking. Who may ask for it besides the approvers is REPORTERS (approvals.py)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from bot.config.approvals import hour_of_day
from bot.config.slack import channel_id


class ReportSettings(BaseSettings):
    """REPORT_CHANNEL at REPORT_HOUR (in TIMEZONE) on the month's first business day; no
    REPORT_CHANNEL, nothing is sent."""

    report_channel: str | None = None

    report_hour: float = Field(8.0, ge=0, lt=24)   # fractions are minutes: 8.5 is 08:30

    # Validators' names are unique across the Settings mixins: a name repeated in another
    # mixin would hide this one (pydantic keeps one attribute per name).
    @field_validator("report_channel", mode="before")
    @classmethod
    def _check_report_channel(cls, value: Any) -> Any:
        return channel_id(value)

    @field_validator("report_hour", mode="before")
    @classmethod
    def _report_hour(cls, value: Any) -> Any:
        return hour_of_day(value)

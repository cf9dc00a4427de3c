"""Settings of the controller's monthly report (bot/reporting): who may ask for it besides
the approvers, and where and when it is sent without asking."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from bot.config.approvals import clock_time
from bot.config.slack import SLACK_ID, IdList, channel_id


class ReportSettings(BaseSettings):
    """The monthly report: REPORTERS, and REPORT_CHANNEL at REPORT_HOUR (in TIMEZONE) on
    the month's first business day; no REPORT_CHANNEL, nothing is sent."""

    # Validators' names are unique across the Settings mixins: a name repeated in another
    # mixin would hide this one (pydantic keeps one attribute per name).
    reporters: IdList = Field(default_factory=list)

    report_channel: str | None = None

    report_hour: float = Field(8.0, ge=0, lt=24)   # fractions are minutes: 8.5 is 08:30

    @field_validator("reporters", mode="before")
    @classmethod
    def _split_reporters(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("reporters")
    @classmethod
    def _check_reporters(cls, value: list[str]) -> list[str]:
        bad = [item for item in value if not SLACK_ID.match(item)]
        if bad:
            raise ValueError(f"not Slack user or group IDs: {', '.join(bad)}")
        return value

    @field_validator("report_channel", mode="before")
    @classmethod
    def _check_report_channel(cls, value: Any) -> Any:
        return channel_id(value)

    @field_validator("report_hour", mode="before")
    @classmethod
    def _report_clock_time(cls, value: Any) -> Any:
        if isinstance(value, str) and ":" in value:
            try:
                moment = clock_time(value)
            except ValueError:
                raise ValueError("not an hour (8.5) nor HH:MM") from None
            return moment.hour + moment.minute / 60
        return value

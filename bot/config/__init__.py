"""Settings: the configuration contract (the README's table), read from the environment and
`.env`. The one home of every default, in one module per concern (slack, approvals, provider,
audit, reports); `Settings` is all of them.

Every name and default here is a contract with operators and tests; add, never rename.
A bad value stops the start with one sentence per problem (see `load_settings`; the sentences
are in sentences.py).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from bot.config.approvals import ApprovalSettings, clock_time
from bot.config.audit import AuditSettings
from bot.config.provider import (
    DEFAULT_SAT_CONFIRM_H,
    DEFAULT_WATCH_BACKOFF_S,
    SANDBOX,
    ProviderSettings,
)
from bot.config.reports import ReportSettings
from bot.config.sentences import (
    HINTS,
    WHERE_FROM,
    invalid,
    is_placeholder,
    missing,
    userinfo,
    without_userinfo,
)
from bot.config.slack import SlackSettings
from bot.sat.calendar import BusinessCalendar

__all__ = ["DEFAULT_SAT_CONFIRM_H", "DEFAULT_TIMEZONE", "DEFAULT_WATCH_BACKOFF_S", "SANDBOX",
           "ConfigError", "Settings", "load_settings", "without_userinfo"]

DEFAULT_TIMEZONE = "America/Mexico_City"


class ConfigError(Exception):
    """The configuration cannot be used; `problems` holds one sentence per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Settings(SlackSettings, ApprovalSettings, ProviderSettings, AuditSettings,
               ReportSettings):
    """Every setting of the bot, read from the environment and `.env`, with its default."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", case_sensitive=False, extra="ignore"
    )

    language: Literal["es", "en"] = "es"

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    log_format: Literal["text", "json"] = "text"

    timezone: str = DEFAULT_TIMEZONE

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _any_case(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        return value.strip().upper() if info.field_name == "log_level" else value.strip().lower()

    @field_validator("timezone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a known time zone") from None
        return value

    @property
    def sandbox(self) -> bool:
        return self.cfdi_endpoint == SANDBOX

    @property
    def cancel_deadline(self) -> tuple[int, int]:
        month, day = self.annual_return_deadline.split("-")
        return int(month), int(day)

    @property
    def checkpoints_file(self) -> Path:
        """Where checkpoints are appended: AUDIT_CHECKPOINTS_FILE, else beside AUDIT_DB."""
        return self.audit_checkpoints_file or self.audit_db.with_suffix(".checkpoints")

    @property
    def checkpoint_channel(self) -> str | None:
        """Where checkpoints are posted: AUDIT_CHANNEL, else ADMIN_CHANNEL."""
        return self.audit_channel or self.admin_channel

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def zone(self) -> ZoneInfo:
        """TIMEZONE: the zone of the times shown to people and of export dates."""
        return ZoneInfo(self.timezone)

    @property
    def calendar(self) -> BusinessCalendar:
        """The company's business days and hours (reminders, digest, escalation)."""
        opens, _, closes = self.business_hours.partition("-")
        days = [d for d in self.extra_holidays if len(d) == 10]
        yearly = [d for d in self.extra_holidays if len(d) != 10]
        return BusinessCalendar(
            zone=self.zone, extra=frozenset(date.fromisoformat(d) for d in days),
            yearly=frozenset((int(d[:2]), int(d[3:])) for d in yearly),
            opens=clock_time(opens), closes=clock_time(closes))

    @property
    def wsdl_is_url(self) -> bool:
        return bool(re.match(r"^https?://", self.cfdi_wsdl))

    def secrets(self) -> list[str]:
        """Every secret value in force, for the log redactor and the leak tests (with the
        user name and password written in a URL, `https://user:pass@host`)."""
        values = [self.slack_bot_token, self.slack_app_token, self.slack_signing_secret,
                  self.cfdi_password]
        found = [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
        for url in (self.cfdi_endpoint, self.cfdi_wsdl, self.slack_api_url,
                    self.sat_consulta_url):
            if (credentials := userinfo(url)) is not None:
                found += [credentials, *[part for part in credentials.split(":", 1)[1:] if part]]
        return found

    def problems_for_run(self) -> list[str]:
        """What `python -m bot run` needs beyond what every command needs."""
        problems = []
        token = self.slack_bot_token.get_secret_value() if self.slack_bot_token else ""
        if not token:
            problems.append(missing("SLACK_BOT_TOKEN"))
        elif not token.startswith("xoxb-"):
            problems.append(invalid("SLACK_BOT_TOKEN", None))
        if self.slack_app_token and not self.slack_app_token.get_secret_value().startswith(
            "xapp-"
        ):
            problems.append(invalid("SLACK_APP_TOKEN", None))
        if not self.socket_mode and not self.slack_signing_secret:
            problems.append(missing("SLACK_SIGNING_SECRET", "in HTTP mode (no SLACK_APP_TOKEN)"))
        problems += self.placeholders()
        if not self.approvals_channel:
            problems.append(missing("APPROVALS_CHANNEL"))
        approvals_on = (self.required_approvals > 0 or self.send_requires_approval
                        or bool(self.approval_rules))
        if approvals_on and not self.approvers:
            problems.append(missing("APPROVERS", "while approvals are on"))
        return problems + self.file_problems()

    def placeholders(self) -> list[str]:
        """Values still as an example left them (`xoxb-…`), never echoed."""
        values = {"SLACK_BOT_TOKEN": self.slack_bot_token, "SLACK_APP_TOKEN": self.slack_app_token,
                  "SLACK_SIGNING_SECRET": self.slack_signing_secret}
        if not self.sandbox:
            values |= {"CFDI_USUARIO": SecretStr(self.cfdi_usuario),
                       "CFDI_PASSWORD": self.cfdi_password}
        return [f"{var} is still a placeholder: put {WHERE_FROM[var]} in its place."
                for var, secret in values.items()
                if secret is not None and is_placeholder(var, secret.get_secret_value())]

    def file_problems(self) -> list[str]:
        """Files named by the settings that are not there."""
        if self.wsdl_is_url or Path(self.cfdi_wsdl).is_file():
            return []
        return [f"CFDI_WSDL {without_userinfo(self.cfdi_wsdl)[:200]!r} is not a file that "
                f"exists: give the path of the provider's WSDL or its http(s) URL, or leave it "
                f"unset for the shipped copy ({HINTS['CFDI_WSDL'][1]})."]


def load_settings(**overrides: Any) -> Settings:
    """Build the settings or raise ConfigError with one clear sentence per problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            var = str(error["loc"][0]).upper() if error["loc"] else "CONFIG"
            ctx = error.get("ctx", {})
            why = str(ctx.get("error", "")) if error["type"] == "value_error" else ""
            problems.append(invalid(var, error.get("input"), why))
        raise ConfigError(problems) from None

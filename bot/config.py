"""Settings: DESIGN.md's configuration contract, read from the environment and `.env`.

Every name and default here is a contract with operators and tests; add, never rename.
A bad value stops the start with one sentence per problem (see `load_settings`).

Why this module is long: each setting, its hint and its check are the one contract operators
read, kept in one place.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.config_sentences import (
    HINTS,
    WHERE_FROM,
    invalid,
    is_placeholder,
    missing,
    userinfo,
    without_userinfo,
)
from bot.providers.registry import DEFAULT as DEFAULT_PROVIDER
from bot.providers.registry import DEFAULT_WSDL, PROVIDERS

SANDBOX = "sandbox"


_SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")


_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


_RULE = re.compile(r"^total\s*>=\s*(?P<amount>\d[\d_]*(?:\.\d{1,2})?)\s*:\s*(?P<n>\d+)$",
                   re.IGNORECASE)


IdList = Annotated[list[str], NoDecode]


DEFAULT_TIMEZONE = "America/Mexico_City"


class ConfigError(Exception):
    """The configuration cannot be used; `problems` holds one sentence per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Settings(BaseSettings):
    """Every setting of the bot, read from the environment and `.env`, with its default."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", case_sensitive=False, extra="ignore"
    )

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    port: int = Field(3000, ge=1, le=65535)
    approvals_channel: str | None = None
    approvers: IdList = Field(default_factory=list)
    requesters: IdList = Field(default_factory=list)
    required_approvals: int = Field(1, ge=0, le=5)
    # More approvers for larger cancellations: (minimum MXN amount, approvals), by minimum.
    # What the amount is and when it is known: bot/workflow/permissions.py.
    approval_rules: Annotated[list[tuple[Decimal, int]], NoDecode] = Field(
        default_factory=list)
    send_requires_approval: bool = False
    admin_channel: str | None = None
    cfdi_provider: str = DEFAULT_PROVIDER
    cfdi_wsdl: str = str(DEFAULT_WSDL)
    cfdi_endpoint: str = SANDBOX
    cfdi_usuario: str = "sandbox"
    cfdi_password: SecretStr = SecretStr("sandbox")
    cfdi_timeout_s: float = Field(30.0, gt=0)
    cfdi_batch_size: int = Field(50, ge=1, le=500)
    cfdi_retry_attempts: int = Field(4, ge=1, le=10)
    cfdi_retry_max_s: float = Field(60.0, gt=0)
    watch_interval_s: float = Field(60.0, gt=0)
    # Per invoice: wait the first step before the first re-check, then the next ones; the
    # last step repeats. 1 min, 5 min, 15 min, then hourly.
    watch_backoff_s: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [60.0, 300.0, 900.0, 3600.0], min_length=1)
    approval_ttl_h: float = Field(72.0, gt=0)
    pending_alert_h: float = Field(120.0, gt=0)
    audit_db: Path = Path("data/audit.db")
    max_invoices: int = Field(200, ge=1, le=1000)
    # More invoices than this make a large request: its card and thread replies summarise
    # (counts, totals, the first invoices) and the lists go as CSV files (bot/large.py).
    large_request_at: int = Field(40, ge=1, le=1000)
    language: Literal["es", "en"] = "es"
    # The SAT's public status service; `sandbox` is the SAT stand-in beside the sandbox
    # provider. Retried as the provider is (CFDI_RETRY_ATTEMPTS, CFDI_RETRY_MAX_S).
    sat_consulta_url: str = SANDBOX
    sat_timeout_s: float = Field(10.0, gt=0)
    # How long a cancellation the provider reported waits for the SAT to show it before a
    # person decides (the invoice becomes `unconfirmed`, the operators are told).
    sat_confirm_h: float = Field(72.0, gt=0)
    # The hour (in TIMEZONE) of the daily reconciliation with the SAT
    # (bot/watching/reconciliation.py).
    reconcile_hour: int = Field(7, ge=0, le=23)
    # The annual return's deadline (the year after the invoice's): the last day it can be
    # cancelled. 03-31 for companies, 04-30 for people.
    annual_return_deadline: str = "03-31"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    timezone: str = DEFAULT_TIMEZONE

    @field_validator("approvers", "requesters", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("watch_backoff_s", mode="before")
    @classmethod
    def _split_steps(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("approval_rules", mode="before")
    @classmethod
    def _parse_rules(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        rules: dict[Decimal, int] = {}
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            match = _RULE.match(part)
            if match is None:
                raise ValueError(f"{part[:40]!r} is not total>=AMOUNT:APPROVALS")
            minimum, approvals = Decimal(match["amount"].replace("_", "")), int(match["n"])
            if not 1 <= approvals <= 5:
                raise ValueError(f"{part[:40]!r} asks for {approvals} approvals, not 1 to 5")
            if minimum in rules:
                raise ValueError(f"two rules for the amount {minimum}")
            rules[minimum] = approvals
        return sorted(rules.items())

    @field_validator("watch_backoff_s")
    @classmethod
    def _positive_steps(cls, value: list[float]) -> list[float]:
        if any(step <= 0 for step in value):
            raise ValueError("every step must be greater than 0")
        return value

    @field_validator("approvers", "requesters")
    @classmethod
    def _check_ids(cls, value: list[str]) -> list[str]:
        bad = [item for item in value if not _SLACK_ID.match(item)]
        if bad:
            raise ValueError(f"not Slack user or group IDs: {', '.join(bad)}")
        return value

    @field_validator("approvals_channel", "admin_channel", mode="before")
    @classmethod
    def _check_channel(cls, value: Any) -> Any:
        if value in (None, ""):
            return None
        if not isinstance(value, str) or not _CHANNEL_ID.match(value):
            raise ValueError("not a channel ID")
        return value

    @field_validator("annual_return_deadline")
    @classmethod
    def _check_month_day(cls, value: str) -> str:
        try:
            date.fromisoformat(f"2001-{value.strip()}")  # a year without Feb 29
        except ValueError:
            raise ValueError("not a month and day") from None
        return value.strip()

    @field_validator("slack_api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("not an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("cfdi_provider")
    @classmethod
    def _check_provider(cls, value: str) -> str:
        if value not in PROVIDERS:
            raise ValueError("not a provider the bot knows")
        return value

    @field_validator("cfdi_endpoint", "sat_consulta_url")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        if value != SANDBOX and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("not 'sandbox' nor an http(s) URL")
        return value

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

    @field_validator("slack_bot_token", "slack_app_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @property
    def sandbox(self) -> bool:
        return self.cfdi_endpoint == SANDBOX

    @property
    def cancel_deadline(self) -> tuple[int, int]:
        month, day = self.annual_return_deadline.split("-")
        return int(month), int(day)

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def zone(self) -> ZoneInfo:
        """TIMEZONE: the zone of the times shown to people and of export dates."""
        return ZoneInfo(self.timezone)

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

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

SHIPPED_WSDL = Path(__file__).parent / "pac" / "cfdi33.wsdl"
SANDBOX = "sandbox"

_SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_RULE = re.compile(r"^total\s*>=\s*(?P<amount>\d[\d_]*(?:\.\d{1,2})?)\s*:\s*(?P<n>\d+)$",
                   re.IGNORECASE)

# What each variable expects and an example, used to explain a bad value in one sentence.
HINTS: dict[str, tuple[str, str]] = {
    "SLACK_BOT_TOKEN": ("a bot token that starts with xoxb-", "xoxb-1234-5678-abcd"),
    "SLACK_APP_TOKEN": ("an app-level token that starts with xapp-", "xapp-1-A1-2-abcd"),
    "SLACK_SIGNING_SECRET": ("the app's signing secret (Basic Information page)", "8f3c…"),
    "SLACK_API_URL": ("an http(s) URL ending in /api/", "https://slack.com/api/"),
    "PORT": ("a TCP port between 1 and 65535", "3000"),
    "APPROVALS_CHANNEL": ("a channel ID (C… or G…), not a name", "C0123456789"),
    "APPROVERS": ("comma-separated user IDs (U…) and/or user-group IDs (S…)", "U01ABC,S02XYZ"),
    "REQUESTERS": ("comma-separated user IDs (U…) and/or user-group IDs (S…)", "U01ABC,S02XYZ"),
    "REQUIRED_APPROVALS": ("a whole number from 0 to 5", "1"),
    "SEND_REQUIRES_APPROVAL": ("true or false", "false"),
    "APPROVAL_RULES": ("comma-separated rules total>=AMOUNT:APPROVALS (amount in MXN, "
                       "approvals 1 to 5)", "total>=100000:2,total>=1000000:3"),
    "ADMIN_CHANNEL": ("a channel ID (C… or G…)", "C0987654321"),
    "CFDI_WSDL": ("a file path or an http(s) URL of the provider's WSDL", "bot/pac/cfdi33.wsdl"),
    "CFDI_ENDPOINT": ("'sandbox' or the service's http(s) address", "sandbox"),
    "CFDI_USUARIO": ("the provider user name", "sandbox"),
    "CFDI_PASSWORD": ("the provider password", "(secret)"),
    "CFDI_TIMEOUT_S": ("a number of seconds greater than 0", "30"),
    "CFDI_BATCH_SIZE": ("a whole number from 1 to 500", "50"),
    "CFDI_RETRY_ATTEMPTS": ("a whole number from 1 to 10", "4"),
    "CFDI_RETRY_MAX_S": ("a number of seconds greater than 0", "60"),
    "WATCH_INTERVAL_S": ("a number of seconds greater than 0", "60"),
    "WATCH_BACKOFF_S": ("comma-separated seconds between re-checks of one pending invoice",
                        "60,300,900,3600"),
    "APPROVAL_TTL_H": ("a number of hours greater than 0", "72"),
    "PENDING_ALERT_H": ("a number of hours greater than 0", "120"),
    "AUDIT_DB": ("a path for the SQLite file", "data/audit.db"),
    "MAX_INVOICES": ("a whole number from 1 to 1000", "200"),
    "LARGE_REQUEST_AT": ("a whole number of invoices from 1 to 1000", "40"),
    "LANGUAGE": ("es or en", "es"),
    "SAT_CONSULTA_URL": ("'sandbox' or the SAT status service's http(s) address",
                         "https://consultaqr.facturaelectronica.sat.gob.mx/"
                         "ConsultaCFDIService.svc"),
    "SAT_TIMEOUT_S": ("a number of seconds greater than 0", "10"),
    "SAT_CONFIRM_H": ("a number of hours greater than 0", "72"),
    "RECONCILE_HOUR": ("a whole hour from 0 to 23 (in TIMEZONE)", "7"),
    "ANNUAL_RETURN_DEADLINE": ("a month and day, MM-DD (companies 03-31, people 04-30)",
                               "03-31"),
    "LOG_LEVEL": ("DEBUG, INFO, WARNING or ERROR", "INFO"),
    "LOG_FORMAT": ("text, or json for one JSON object per line", "json"),
    "TIMEZONE": ("an IANA time zone name", "America/Mexico_City"),
}
SECRET_VARS = {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "CFDI_PASSWORD"}

# Where the real value of a variable is found, for a placeholder left in `.env`.
WHERE_FROM: dict[str, str] = {
    "SLACK_BOT_TOKEN": "the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page",
    "SLACK_APP_TOKEN": "an app-level token (xapp-…) made under Basic Information → App-Level "
                       "Tokens with the connections:write scope",
    "SLACK_SIGNING_SECRET": "the Signing Secret from the app's Basic Information page",
    "CFDI_USUARIO": "the user name the provider gave you",
    "CFDI_PASSWORD": "the password the provider gave you",
}
# What only an example or a template holds. Real Slack tokens and secrets are letters, digits
# and dashes, so an ellipsis, dots, <…> or spaces mark a template, as does a dash-separated
# part made of x's or starting with "your" or "example" (a real token's random part will
# practically never do either). A provider credential is a placeholder only when it is
# nothing but such a mark: a real password may hold any character.
_TEMPLATE_CHARS = re.compile(r"…|\.\.|[<>\s]")
_TEMPLATE_PART = re.compile(r"^(x{2,}|your.*|example.*|placeholder.*|changeme.*)$",
                            re.IGNORECASE)
_TEMPLATE_WHOLE = re.compile(r"^(…|\.{2,}|x{3,}|<[^>]*>|\(secret\)|your[-_ ]?password)$",
                             re.IGNORECASE)
_PREFIX = {"SLACK_BOT_TOKEN": "xoxb-", "SLACK_APP_TOKEN": "xapp-"}


IdList = Annotated[list[str], NoDecode]


class ConfigError(Exception):
    """The configuration cannot be used; `problems` holds one sentence per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Settings(BaseSettings):
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
    # What the amount is and when it is known: bot/policy.py.
    approval_rules: Annotated[list[tuple[Decimal, int]], NoDecode] = Field(
        default_factory=list)
    send_requires_approval: bool = False
    admin_channel: str | None = None
    cfdi_wsdl: str = str(SHIPPED_WSDL)
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
    # The hour (in TIMEZONE) of the daily reconciliation with the SAT (bot/reconcile.py).
    reconcile_hour: int = Field(7, ge=0, le=23)
    # The annual return's deadline (the year after the invoice's): the last day it can be
    # cancelled. 03-31 for companies, 04-30 for people.
    annual_return_deadline: str = "03-31"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    timezone: str = "America/Mexico_City"

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
            if (userinfo := _userinfo(url)) is not None:
                found += [userinfo, *[part for part in userinfo.split(":", 1)[1:] if part]]
        return found

    def problems_for_run(self) -> list[str]:
        """What `python -m bot run` needs beyond what every command needs."""
        problems = []
        token = self.slack_bot_token.get_secret_value() if self.slack_bot_token else ""
        if not token:
            problems.append(_missing("SLACK_BOT_TOKEN"))
        elif not token.startswith("xoxb-"):
            problems.append(_invalid("SLACK_BOT_TOKEN", None))
        if self.slack_app_token and not self.slack_app_token.get_secret_value().startswith(
            "xapp-"
        ):
            problems.append(_invalid("SLACK_APP_TOKEN", None))
        if not self.socket_mode and not self.slack_signing_secret:
            problems.append(_missing("SLACK_SIGNING_SECRET", "in HTTP mode (no SLACK_APP_TOKEN)"))
        problems += self.placeholders()
        if not self.approvals_channel:
            problems.append(_missing("APPROVALS_CHANNEL"))
        approvals_on = (self.required_approvals > 0 or self.send_requires_approval
                        or bool(self.approval_rules))
        if approvals_on and not self.approvers:
            problems.append(_missing("APPROVERS", "while approvals are on"))
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
                if secret is not None and _is_placeholder(var, secret.get_secret_value())]

    def file_problems(self) -> list[str]:
        """Files named by the settings that are not there."""
        if self.wsdl_is_url or Path(self.cfdi_wsdl).is_file():
            return []
        return [f"CFDI_WSDL {without_userinfo(self.cfdi_wsdl)[:200]!r} is not a file that "
                f"exists: give the path of the provider's WSDL or its http(s) URL, or leave it "
                f"unset for the shipped copy ({HINTS['CFDI_WSDL'][1]})."]


def _is_placeholder(var: str, value: str) -> bool:
    if var.startswith("CFDI_"):
        return bool(_TEMPLATE_WHOLE.match(value.strip()))
    rest = value.removeprefix(_PREFIX.get(var, ""))
    return (not rest.strip("-") or value == HINTS[var][1] or bool(_TEMPLATE_CHARS.search(value))
            or any(_TEMPLATE_PART.match(part) for part in rest.split("-")))


def _missing(var: str, when: str = "") -> str:
    form, example = HINTS[var]
    when = f" {when}" if when else ""
    return f"{var} is required{when}: set it to {form}, for example {var}={example}."


_AUTHORITY = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:(?=/))?/*(?P<authority>[^/?#]*)")
_BEFORE_LAST_AT = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)?.*@", re.DOTALL)


def _userinfo(value: str) -> str | None:
    """The `user:pass` of `scheme://user:pass@host/…` (scheme and slashes optional), if any."""
    match = _AUTHORITY.match(value)
    authority = match["authority"] if match else ""
    return authority.rpartition("@")[0] if "@" in authority else None


def without_userinfo(value: str) -> str:
    """A URL-like value safe to show: whatever comes before its last `@` becomes `***`
    (a malformed URL may hold a password with `/` in it; showing less is safe)."""
    return _BEFORE_LAST_AT.sub(lambda m: f"{m['scheme'] or ''}***@", value, count=1)


def _invalid(var: str, got: Any, why: str = "") -> str:
    form, example = HINTS.get(var, ("a valid value", "…"))
    shown = ("" if var in SECRET_VARS or got is None
             else f" {without_userinfo(str(got))[:60]!r}")
    why = f" ({why})" if why else ""
    return f"{var}{shown} is not valid{why}: expected {form}, for example {var}={example}."


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
            problems.append(_invalid(var, error.get("input"), why))
        raise ConfigError(problems) from None

"""Settings of the invoicing provider, the watcher that follows its pending answers, and the
SAT's status service."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode

from bot.providers.registry import DEFAULT as DEFAULT_PROVIDER
from bot.providers.registry import PROVIDERS, WITH_STAND_IN, shipped_wsdl
from bot.sat.cancellability import COMPANIES_DEADLINE

SANDBOX = "sandbox"
# Defaults that code outside the settings also needs (a use case called without settings).
DEFAULT_WATCH_BACKOFF_S: tuple[float, ...] = (60.0, 300.0, 900.0, 3600.0)  # 1, 5, 15 min, hourly
DEFAULT_SAT_CONFIRM_H = 72.0


class ProviderSettings(BaseSettings):
    """The provider's service and account, how its pending answers are followed, and the
    SAT's status service."""

    cfdi_provider: str = DEFAULT_PROVIDER

    cfdi_wsdl: str = ""  # unset: the copy CFDI_PROVIDER's package ships

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
        default_factory=lambda: list(DEFAULT_WATCH_BACKOFF_S), min_length=1)

    pending_alert_h: float = Field(120.0, gt=0)

    # The SAT's public status service; `sandbox` is the SAT stand-in beside the sandbox
    # provider. Retried as the provider is (CFDI_RETRY_ATTEMPTS, CFDI_RETRY_MAX_S).
    sat_consulta_url: str = SANDBOX

    sat_timeout_s: float = Field(10.0, gt=0)

    # How long a cancellation the provider reported waits for the SAT to show it before a
    # person decides (the invoice becomes `unconfirmed`, the operators are told).
    sat_confirm_h: float = Field(DEFAULT_SAT_CONFIRM_H, gt=0)

    # The hour (in TIMEZONE) of the daily reconciliation with the SAT
    # (bot/watching/reconciliation.py).
    reconcile_hour: int = Field(7, ge=0, le=23)

    # The annual return's deadline (the year after the invoice's): the last day it can be
    # cancelled. 03-31 for companies, 04-30 for people.
    annual_return_deadline: str = "{:02d}-{:02d}".format(*COMPANIES_DEADLINE)

    @field_validator("watch_backoff_s", mode="before")
    @classmethod
    def _split_steps(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("watch_backoff_s")
    @classmethod
    def _positive_steps(cls, value: list[float]) -> list[float]:
        if any(step <= 0 for step in value):
            raise ValueError("every step must be greater than 0")
        return value

    @field_validator("annual_return_deadline")
    @classmethod
    def _check_month_day(cls, value: str) -> str:
        try:
            date.fromisoformat(f"2001-{value.strip()}")  # a year without Feb 29
        except ValueError:
            raise ValueError("not a month and day") from None
        return value.strip()

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

    @field_validator("cfdi_endpoint")
    @classmethod
    def _sandbox_imitates(cls, value: str, info: ValidationInfo) -> str:
        provider = info.data.get("cfdi_provider")
        if value == SANDBOX and provider is not None and provider not in WITH_STAND_IN:
            raise ValueError(f"the sandbox imitates {', '.join(sorted(WITH_STAND_IN))} only;"
                             f" give {provider}'s address")
        return value

    @model_validator(mode="after")
    def _the_providers_wsdl(self) -> ProviderSettings:
        """CFDI_WSDL unset is the chosen provider's shipped copy."""
        if not self.cfdi_wsdl:
            self.cfdi_wsdl = shipped_wsdl(self.cfdi_provider)
        return self

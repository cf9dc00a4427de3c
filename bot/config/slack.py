"""Settings of the Slack side: tokens, the API address, the port, the channels."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")
IdList = Annotated[list[str], NoDecode]  # comma-separated IDs (U…, W…, S…)


def channel_id(value: Any) -> Any:
    """A channel setting: unset when empty, else a channel ID (C…, G…, D…)."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not CHANNEL_ID.match(value):
        raise ValueError("not a channel ID")
    return value


class SlackSettings(BaseSettings):
    """How the bot reaches Slack and where it speaks there."""

    slack_bot_token: SecretStr | None = None

    slack_app_token: SecretStr | None = None

    slack_signing_secret: SecretStr | None = None

    slack_api_url: str = "https://slack.com/api/"

    port: int = Field(3000, ge=1, le=65535)

    approvals_channel: str | None = None

    admin_channel: str | None = None

    @field_validator("slack_api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("not an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("slack_bot_token", "slack_app_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("approvals_channel", "admin_channel", mode="before")
    @classmethod
    def _check_channel(cls, value: Any) -> Any:
        return channel_id(value)

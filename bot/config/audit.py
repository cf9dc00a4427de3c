"""Settings of the audit log: its file, and its signed checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from bot.config.slack import channel_id


class AuditSettings(BaseSettings):
    """Where the audit log is, and how its checkpoints are signed and published."""

    audit_db: Path = Path("data/audit.db")

    # Signed checkpoints of the audit log (bot/evidence): the key (none: no checkpoints), how
    # often one is signed while events are written, and where copies go besides the log.
    audit_signing_key: Path | None = None

    audit_checkpoint_every_h: float = Field(1.0, gt=0)

    audit_checkpoints_file: Path | None = None   # default: AUDIT_DB with .checkpoints

    audit_channel: str | None = None             # default: ADMIN_CHANNEL

    @field_validator("audit_signing_key", "audit_checkpoints_file", mode="before")
    @classmethod
    def _empty_path_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("audit_channel", mode="before")
    @classmethod
    def _check_audit_channel(cls, value: Any) -> Any:
        return channel_id(value)

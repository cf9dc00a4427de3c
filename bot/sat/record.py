"""What is known of one invoice: its XML's facts and the SAT's word on it, as kept in
`invoices.facts` and in each `invoice_facts` event (JSON), read back as one typed record so
that no caller rebuilds `CfdiFacts` or `SatStatus` from a dict."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.sat.cfdi import CfdiFacts
from bot.sat.replacement import ReplacementCheck
from bot.sat.status import SatStatus


class ReplacementRecord(BaseModel):
    """Reason 01: what the replacement's XML is to this invoice (bot.sat.replacement)."""

    model_config = ConfigDict(frozen=True)

    ref: str                     # the replacement as typed (UUID, or serie + folio)
    uuid: str | None = None      # its UUID, when its XML was found
    error: str | None = None     # why its XML could not be had
    check: ReplacementCheck


class FactsRecord(BaseModel):
    """One invoice's facts and the SAT's word on it; a failure is a code, never an exception."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    invoice: CfdiFacts | None = None
    invoice_error: str | None = None   # why the XML could not be had or read
    sat: SatStatus | None = None
    sat_error: str | None = None       # why the SAT gave no answer ("off": not asked)
    sat_at: str | None = None          # when the SAT answered (UTC, as stored)
    source: str | None = None          # "provider" or "attached" (the requester's file)
    file: str | None = None            # an attached file's name, and its sha256
    sha256: str | None = None
    replacement: ReplacementRecord | None = None

    @classmethod
    def of(cls, stored: str | Mapping[str, Any] | None) -> FactsRecord | None:
        """The record as stored (JSON text or its dict); None when nothing was recorded."""
        data = json.loads(stored) if isinstance(stored, str) else stored
        return cls.model_validate(data) if data else None

    @property
    def attached(self) -> bool:
        """The facts came from a file the requester attached, not from the provider."""
        return self.source == "attached"

    @property
    def sat_json(self) -> dict[str, Any] | None:
        """The SAT's answer as the audit log keeps it (its own words)."""
        return self.sat.model_dump(mode="json") if self.sat else None

    def as_json(self) -> dict[str, Any]:
        """The record as stored: the fields it was given (JSON)."""
        return self.model_dump(mode="json", exclude_unset=True)

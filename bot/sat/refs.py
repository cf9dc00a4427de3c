"""How an invoice is named: by its UUID (folio fiscal), or by serie + folio."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

_UUID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
_SERIE = re.compile(r"^[^|\s]{1,25}$")  # SAT: Serie is 1-25 characters, no pipe
_SERIE_FOLIO = re.compile(
    r"^(?P<serie>[^\s|]+?)(?:[\s\-/]+|(?<=[A-Za-z])(?=\d))(?P<folio>\d{1,18})$"
)
FOLIO_MAX = 2**63 - 1  # the provider's xs:long


def normalize_uuid(text: str) -> str | None:
    """The canonical upper-case, hyphenated form of a UUID, or None if it is not one."""
    raw = text.strip().strip("{}").upper()
    if re.fullmatch(r"[0-9A-F]{32}", raw):
        raw = f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
    return raw if _UUID.match(raw) else None


def uuid_or_error(value: Any, field: str) -> str:
    uuid = normalize_uuid(value) if isinstance(value, str) else None
    if uuid is None:
        raise PydanticCustomError(
            "invalid_uuid",
            "{field} is not a UUID (8-4-4-4-12 hexadecimal digits): '{value}'",
            {"field": field, "value": str(value)[:60]},
        )
    return uuid


class InvoiceRef(BaseModel):
    """An invoice named by its UUID, or by serie + folio; never both."""

    model_config = ConfigDict(frozen=True)

    uuid: str | None = None
    serie: str | None = None
    folio: int | None = Field(None, ge=1, le=FOLIO_MAX)

    @field_validator("uuid", mode="before")
    @classmethod
    def _uuid(cls, value: Any) -> Any:
        return None if value in (None, "") else uuid_or_error(value, "uuid")

    @field_validator("serie", mode="before")
    @classmethod
    def _serie(cls, value: Any) -> Any:
        if value in (None, ""):
            return None
        if not isinstance(value, str) or not _SERIE.match(value.strip()):
            raise PydanticCustomError(
                "invalid_serie", "serie must be 1-25 characters without spaces or '|'"
            )
        return value.strip().upper()

    @model_validator(mode="after")
    def _one_form(self) -> InvoiceRef:
        by_folio = self.serie is not None or self.folio is not None
        if self.uuid and by_folio:
            raise PydanticCustomError(
                "uuid_and_folio", "give either a UUID or a serie + folio, not both"
            )
        if not self.uuid and (self.serie is None or self.folio is None):
            raise PydanticCustomError(
                "missing_reference", "give a UUID, or both a serie and a folio"
            )
        return self

    @classmethod
    def parse(cls, text: str) -> InvoiceRef:
        """Read one line a person typed: a UUID, or `SERIE FOLIO` / `SERIE-FOLIO` / `A123`."""
        line = text.strip()
        if uuid := normalize_uuid(line):
            return cls(uuid=uuid)
        match = _SERIE_FOLIO.match(line)
        if match is None:
            error = PydanticCustomError("not_a_reference",
                                        "'{value}' is neither a UUID nor a serie and folio",
                                        {"value": line[:60]})
            raise ValidationError.from_exception_data(
                cls.__name__, [{"type": error, "loc": (), "input": line}])
        return cls(serie=match["serie"], folio=int(match["folio"]))

    @classmethod
    def from_key(cls, key: str) -> InvoiceRef:
        """The reference a stored key stands for (the inverse of `key`)."""
        if uuid := normalize_uuid(key):
            return cls(uuid=uuid)
        serie, _, folio = key.rpartition("-")
        return cls(serie=serie, folio=int(folio))

    @property
    def key(self) -> str:
        """Canonical text: the UUID, or SERIE-FOLIO. Used in the audit log and lookups."""
        return self.uuid or f"{self.serie}-{self.folio}"

"""How an invoice is named: by its UUID (folio fiscal), or by serie + folio."""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

_UUID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
_SERIE = re.compile(r"^[^|\s]{1,25}$")  # SAT: Serie is 1-25 characters, no pipe
_SERIE_FOLIO = re.compile(
    r"^(?P<serie>[^\s|]+?)(?:[\s\-/]+|(?<=[A-Za-z])(?=\d))(?P<folio>\d{1,19})$"
)
FOLIO_MAX = 2**63 - 1  # the provider's xs:long (19 digits)
# A folio written with a minus sign (`FAC -5`, `FAC--5`): a folio counts from 1, so the sign
# is never read as a separator.
_NEGATIVE_FOLIO = re.compile(r"^[^\s|]+?(?:\s+-+|--+)\d+$")

# Invisible characters a copy and paste brings along: removed before anything is read.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_DROP = dict.fromkeys(map(ord, ZERO_WIDTH))
# Characters that change the direction text is shown in: refused, never silently kept.
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# A token of letters and digits in groups, as a UUID is when typed by hand.
_UUID_LIKE = re.compile(r"^[0-9A-Za-z]+(?:[\s\-]+[0-9A-Za-z]+)*$")


def typed(text: str) -> str:
    """What a person typed, as it is compared: Unicode NFC, without zero-width characters
    (so that `FAC 1` and `FAC\u200b 1` are the same invoice)."""
    return unicodedata.normalize("NFC", text).translate(_DROP)


def unsafe_char(text: str, allow: str = "", invisible: bool = False) -> str | None:
    """The first control character (NUL included) or direction override in `text`, or None.

    `allow` lists controls the field may hold (a multi-line field allows line breaks);
    `invisible` also refuses every other invisible formatting character (for references).
    """
    for char in text:
        if char in allow:
            continue
        category = unicodedata.category(char)
        if char in BIDI or category == "Cc" or (invisible and category in ("Cf", "Co", "Cn")):
            return char
    return None


def codepoint(char: str) -> str:
    """How an unseen character is named in a message: U+0000."""
    return f"U+{ord(char):04X}"


def looks_like_uuid(text: str) -> bool:
    """Almost a UUID (a wrong character, a group too long or too short, a hyphen missing or
    a space instead of one), so not to be read as a serie and a folio."""
    raw = typed(text).strip().strip("{}").strip()
    if not _UUID_LIKE.match(raw) or normalize_uuid(raw):
        return False
    digits = "".join(re.split(r"[\s\-]+", raw))
    wrong = sum(char not in string.hexdigits for char in digits)
    return 30 <= len(digits) <= 34 and wrong <= 2


def negative_folio(text: str) -> bool:
    """A serie followed by a folio with a minus sign, such as `FAC -5`."""
    return bool(_NEGATIVE_FOLIO.match(typed(text).strip()))


def normalize_uuid(text: str) -> str | None:
    """The canonical upper-case, hyphenated form of a UUID, or None if it is not one."""
    raw = typed(text).strip().strip("{}").upper()
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
        clean = typed(value).strip() if isinstance(value, str) else ""
        if not _SERIE.match(clean) or unsafe_char(clean, invisible=True) is not None:
            raise PydanticCustomError(
                "invalid_serie", "serie must be 1-25 visible characters without spaces or '|'"
            )
        return clean.upper()

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
        line = typed(text).strip()
        if uuid := normalize_uuid(line):
            return cls(uuid=uuid)
        match = None if looks_like_uuid(line) or negative_folio(line) else \
            _SERIE_FOLIO.match(line)
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

"""What goes to the provider and what comes back, as validated models.

Validation errors carry a stable `type` (e.g. `invalid_uuid`) that the Slack layer turns
into a message in the user's language; the English text here is for logs and developers.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.pac.status import Nuance, Outcome, StatusClass

_UUID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
_SERIE = re.compile(r"^[^|\s]{1,25}$")  # SAT: Serie is 1-25 characters, no pipe
_SERIE_FOLIO = re.compile(
    r"^(?P<serie>[^\s|]+?)(?:[\s\-/]+|(?<=[A-Za-z])(?=\d))(?P<folio>\d{1,18})$"
)
FOLIO_MAX = 2**63 - 1  # xs:long


def normalize_uuid(text: str) -> str | None:
    """The canonical upper-case, hyphenated form of a UUID, or None if it is not one."""
    raw = text.strip().strip("{}").upper()
    if re.fullmatch(r"[0-9A-F]{32}", raw):
        raw = f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
    return raw if _UUID.match(raw) else None


def _uuid_or_error(value: Any, field: str) -> str:
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
        return None if value in (None, "") else _uuid_or_error(value, "uuid")

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

    @property
    def key(self) -> str:
        """Canonical text: the UUID, or SERIE-FOLIO. Used in the audit log and lookups."""
        return self.uuid or f"{self.serie}-{self.folio}"

    def soap(self) -> dict[str, Any]:
        return {"uuid": self.uuid} if self.uuid else {"serie": self.serie, "folio": self.folio}


class CancelReason(StrEnum):
    """SAT cancellation reasons since 2022; `description` is the SAT's official wording."""

    WITH_RELATION = "01"
    WITHOUT_RELATION = "02"
    NOT_CARRIED_OUT = "03"
    GLOBAL_INVOICE = "04"

    @property
    def description(self) -> str:
        return _REASON_TEXT[self]

    @property
    def needs_replacement(self) -> bool:
        return self is CancelReason.WITH_RELATION


_REASON_TEXT = {
    CancelReason.WITH_RELATION: "Comprobante emitido con errores con relación",
    CancelReason.WITHOUT_RELATION: "Comprobante emitido con errores sin relación",
    CancelReason.NOT_CARRIED_OUT: "No se llevó a cabo la operación",
    CancelReason.GLOBAL_INVOICE: "Operación nominativa relacionada en una factura global",
}


class CancelItem(BaseModel):
    """One invoice to cancel, with its reason and (reason 01 only) the replacing invoice."""

    model_config = ConfigDict(frozen=True)

    ref: InvoiceRef
    reason: CancelReason
    replacement: str | None = None

    @field_validator("replacement", mode="before")
    @classmethod
    def _replacement(cls, value: Any) -> Any:
        return None if value in (None, "") else _uuid_or_error(value, "replacement")

    @model_validator(mode="after")
    def _replacement_rules(self) -> CancelItem:
        if self.reason.needs_replacement:
            if self.replacement is None:
                raise PydanticCustomError(
                    "replacement_required", "reason 01 needs the UUID of the replacing invoice"
                )
            if self.ref.uuid is None:
                raise PydanticCustomError(
                    "replacement_needs_uuid",
                    "reason 01 needs the cancelled invoice by UUID: the provider takes the "
                    "replacement only beside a UUID",
                )
            if self.replacement == self.ref.uuid:
                raise PydanticCustomError(
                    "replacement_is_self", "the replacement must differ from the cancelled invoice"
                )
        elif self.replacement is not None:
            raise PydanticCustomError(
                "replacement_not_allowed", "a replacement UUID is only given with reason 01"
            )
        return self

    def soap(self) -> dict[str, Any]:
        """One `solicitudesCancelacion` item; a replacement travels as `UUID|01|UUIDSustituye`."""
        item = self.ref.soap()
        if self.replacement:
            item["uuid"] = f"{self.ref.uuid}|{self.reason.value}|{self.replacement}"
        item["motivoCancelacion"] = self.reason.value
        return item


class InvoiceOutcome(BaseModel):
    """What the provider said about one invoice, classified, with its raw words kept."""

    ref: InvoiceRef
    outcome: Outcome
    code: str | None = None          # e.g. "211", "sat:205", "601", "timeout"
    nuance: Nuance | None = None
    detalle: str | None = None
    estatus_uuid: str | None = None
    acuse: str | None = None         # the SAT acknowledgment, base64-decoded
    error_class: StatusClass | None = None  # set when the whole call failed for this invoice


class CancelResult(BaseModel):
    outcomes: list[InvoiceOutcome]
    calls: int  # provider calls made, retries included


def check_email(value: str) -> str:
    """Syntax only (no DNS): the normalised address, or a typed error."""
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise PydanticCustomError(
            "invalid_email", "'{value}' is not an e-mail address: {why}",
            {"value": value.strip()[:80], "why": str(exc)},
        ) from None


class SendRequest(BaseModel):
    """Invoices to e-mail to contacts (the `solicitudEnvio` of `enviar`)."""

    refs: list[InvoiceRef] = Field(min_length=1)
    emails: list[str] = Field(min_length=1)
    subject: str | None = Field(None, max_length=200)
    message: str | None = Field(None, max_length=2000)
    attach_pdf: bool = True

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        return [check_email(item) for item in value]

    def soap(self) -> dict[str, Any]:
        """The shape of `solicitudEnvio`; kept here alone so a real WSDL can replace it."""
        return {
            "asunto": self.subject,
            "comprobantes": [ref.soap() for ref in self.refs],
            "emails": self.emails,
            "incluirPDF": self.attach_pdf,
            "mensaje": self.message,
        }


class SendOutcome(BaseModel):
    ref: InvoiceRef
    email: str
    outcome: Outcome      # SENT or FAILED
    code: str | None = None
    detalle: str | None = None
    error_class: StatusClass | None = None


class SendResult(BaseModel):
    status: int | None
    mensaje: str | None
    outcomes: list[SendOutcome]
    calls: int

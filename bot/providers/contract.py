"""The provider contract the use cases are typed against: cancel, send, the invoice's XML,
close.

`bot.providers.solucion_factible` (Solución Factible) implements it; a second provider
would be a package beside it
implementing the same calls and answering with these types. Errors carry a class that
says what to do next (retry, fix the credentials, fix the configuration, give up).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from enum import StrEnum
from typing import Protocol

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from bot.sat.cancellation import CancelItem
from bot.sat.outcomes import Nuance, Outcome
from bot.sat.refs import InvoiceRef

# Each provider call of a large job is made under one (bot.workflow.pace.Pace.gate).
Step = Callable[[], AbstractAsyncContextManager[None]]


class StatusClass(StrEnum):
    """What a failed provider call calls for: try again, fix the configuration, or nothing."""

    SUCCESS = "success"
    PENDING = "pending"
    FINAL = "final_failure"
    RETRY = "retry"
    CREDENTIALS = "credentials"
    CONFIGURATION = "configuration"


class FailureCode(StrEnum):
    """Why a call to a provider failed, in the same words whatever the provider (the
    catalogues' `provider.<code>`); a provider's own codes (digits) have its package's words."""

    TIMEOUT = "timeout"            # no answer in time
    CONNECTION = "connection"      # could not connect
    HTTP = "http"                  # an HTTP error status (`http:502`)
    MALFORMED = "malformed"        # an answer that cannot be read: its outcome is unknown
    SOAP_FAULT = "soap_fault"      # the service answered with an error envelope
    REQUEST = "request"            # the request does not match the service (configuration)
    CONTRACT = "contract"          # the service description lacks what the bot sends
    UNSUPPORTED = "unsupported"    # this provider cannot do it
    ERROR = "error"                # anything else
    UNNAMED = "unnamed"            # the answers never named this invoice
    MISSING_RESULT = "missing_result"  # no result for this invoice
    INTERRUPTED = "interrupted"    # the bot stopped while the provider held the call


class ProviderError(Exception):
    """A call to the provider failed. `code` names the failure in the audit log; the text
    is one sentence and never holds a secret."""

    code: str = "error"
    status_class: StatusClass = StatusClass.FINAL

    def __init__(self, message: str, *, code: str | None = None,
                 status_class: StatusClass | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_class is not None:
            self.status_class = status_class

    @property
    def retryable(self) -> bool:
        return self.status_class is StatusClass.RETRY


class InvoiceNotFound(ProviderError):
    """The provider has no such invoice (a lookup of one invoice's XML)."""


class Unsupported(ProviderError):
    """The provider (or the WSDL loaded for it) has no such call."""

    code = FailureCode.UNSUPPORTED
    status_class = StatusClass.CONFIGURATION


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


def check_email(value: str) -> str:
    """Syntax only (no DNS): the normalised address, or a typed error."""
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise PydanticCustomError(
            "invalid_email", "'{value}' is not an e-mail address: {why}",
            {"value": value.strip()[:80], "why": str(exc)},
        ) from None


SUBJECT_MAX, MESSAGE_MAX = 200, 2000  # an e-mail's subject and message, in characters


class SendRequest(BaseModel):
    """Invoices to e-mail to contacts."""

    refs: list[InvoiceRef] = Field(min_length=1)
    emails: list[str] = Field(min_length=1)
    subject: str | None = Field(None, max_length=SUBJECT_MAX)
    message: str | None = Field(None, max_length=MESSAGE_MAX)
    attach_pdf: bool = True

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        return [check_email(item) for item in value]


class SendOutcome(BaseModel):
    """What the provider said about e-mailing one invoice, with its raw words kept."""

    ref: InvoiceRef
    email: str
    outcome: Outcome      # SENT or FAILED
    code: str | None = None
    detalle: str | None = None
    error_class: StatusClass | None = None


class CancelResult(BaseModel):
    """The provider's answer to one `cancel`: an outcome per invoice asked about."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    outcomes: list[InvoiceOutcome]     # one per requested invoice, in the caller's order
    calls: int                         # provider calls made, retries included
    error: ProviderError | None = None  # the first whole-call failure, if any batch failed


class SendResult(BaseModel):
    """The provider's answer to one `send`: an outcome per invoice."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    outcomes: list[SendOutcome]        # one per (invoice, e-mail)
    calls: int
    error: ProviderError | None = None


class Provider(Protocol):
    """What any invoicing provider does for the bot; each provider package implements it."""

    calls: int  # HTTP calls made so far (tests, benchmarks)
    sends_by_uuid_only: bool  # `send` names invoices by UUID only (the form asks for UUIDs)

    async def cancel(self, items: Sequence[CancelItem], *, one_per_call: bool = False,
                     step: Step | None = None) -> CancelResult:
        """One outcome per item, in order. `one_per_call` asks about each invoice alone
        (re-asking a pending one: some answers exist only for a one-invoice call). Each
        call is made under `step` when given (a large request's pace: the caller's bound
        on how much of the loop its calls take)."""
        ...

    async def send(self, request: SendRequest) -> SendResult: ...

    async def invoice_xml(self, ref: InvoiceRef) -> bytes:
        """The invoice's XML as the provider keeps it (not parsed, at most MAX_CFDI_BYTES).
        Raises ProviderError: its class says whether trying again may help; code
        "unsupported" when this provider cannot give it."""
        ...

    async def aclose(self) -> None: ...

"""Typed failures of a provider call. Each says what happened in one sentence, never a secret."""

from __future__ import annotations

from bot.providers.contract import FailureCode, InvoiceNotFound, ProviderError, StatusClass


class PacError(ProviderError):
    """A call to Solución Factible failed."""


class PacTimeout(PacError):
    """The provider did not answer within CFDI_TIMEOUT_S."""

    code = FailureCode.TIMEOUT
    status_class = StatusClass.RETRY


class PacConnectionError(PacError):
    """The provider could not be reached."""

    code = FailureCode.CONNECTION
    status_class = StatusClass.RETRY


class PacHTTPError(PacError):
    """An HTTP error status without a SOAP answer (an HTML error page, an empty body)."""

    code = FailureCode.HTTP

    def __init__(self, message: str, status: int) -> None:
        retry = StatusClass.RETRY if status >= 500 else StatusClass.FINAL
        super().__init__(message, code=f"http:{status}", status_class=retry)
        self.status = status


class PacMalformedResponse(PacError):
    """The answer is not the XML the WSDL promises: truncated, wrong namespace, missing fields."""

    code = FailureCode.MALFORMED


class PacSoapFault(PacError):
    """The provider answered with a SOAP fault."""

    code = FailureCode.SOAP_FAULT


class PacRequestError(PacError):
    """Our request did not fit the WSDL (a bug or a WSDL mismatch): never retried."""

    code = FailureCode.REQUEST
    status_class = StatusClass.CONFIGURATION


class PacOperationError(PacError):
    """The provider answered with an operation status other than 200 for the whole call."""

    def __init__(self, status: int, mensaje: str, status_class: StatusClass) -> None:
        super().__init__(f"provider answered {status}: {mensaje}", code=str(status),
                         status_class=status_class)
        self.status = status
        self.mensaje = mensaje


class PacInvoiceNotFound(PacOperationError, InvoiceNotFound):
    """623 ("not found") to a call about one invoice: the provider has no such invoice."""


class PacContractError(PacError):
    """The loaded WSDL lacks what the bot sends or reads: one sentence per problem."""

    code = FailureCode.CONTRACT
    status_class = StatusClass.CONFIGURATION

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems

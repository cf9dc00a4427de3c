"""The provider's web service, through zeep: cancel invoices in batches, send them by e-mail.

Built once at start (`PacClient.create` parses the WSDL in a worker thread, off the event
loop). Every call is bounded by `timeout_s` as a whole, retried with jittered exponential
backoff only when the failure says "try again", and every failure becomes a typed PacError
whose text never holds the password.

Why this module is long: a call to the provider and the reading of its answer are one
concern (what the provider said, per invoice); the wire mapping is in bot.pac.wire.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import zeep
import zeep.exceptions
from lxml import etree
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random,
)
from zeep.proxy import AsyncServiceProxy
from zeep.wsdl.bindings.soap import Soap11Binding

from bot.pac import wire
from bot.pac.errors import (
    PacConnectionError,
    PacError,
    PacHTTPError,
    PacMalformedResponse,
    PacOperationError,
    PacRequestError,
    PacSoapFault,
    PacTimeout,
)
from bot.pac.status import CANCELLATION, classify_invoice, operation_class
from bot.pac.transport import QuietAsyncTransport
from bot.provider import (
    CancelResult,
    InvoiceOutcome,
    SendOutcome,
    SendRequest,
    SendResult,
    StatusClass,
)
from bot.sat.cancellation import CancelItem
from bot.sat.outcomes import Outcome
from bot.sat.refs import InvoiceRef, normalize_uuid

log = logging.getLogger(__name__)

# Whole-call failures after which further batches would only repeat the failure (and, for
# credentials, bring the account closer to the lock-out of code 604).
_STOP_CLASSES = {StatusClass.CREDENTIALS, StatusClass.CONFIGURATION}


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    initial_s: float = 0.5
    max_wait_s: float = 8.0
    total_s: float = 60.0


class PacClient:
    """Solución Factible behind the provider contract (bot.provider.Provider)."""

    def __init__(self, service: AsyncServiceProxy, transport: QuietAsyncTransport, *,
                 usuario: str, password: str, timeout_s: float, batch_size: int,
                 retry: RetryPolicy) -> None:
        self._service = service
        self._transport = transport
        self._usuario = usuario
        self._password = password
        self.timeout_s = timeout_s
        self.batch_size = batch_size
        self.retry = retry
        self.calls = 0  # every HTTP call to the provider, for tests and benchmarks

    @classmethod
    async def create(cls, wsdl: str, endpoint: str, **options: Any) -> PacClient:
        return await asyncio.to_thread(cls.build, wsdl, endpoint, **options)

    @classmethod
    def build(cls, wsdl: str, endpoint: str, *, usuario: str, password: str,
              timeout_s: float = 30, batch_size: int = 50,
              retry: RetryPolicy | None = None) -> PacClient:
        """Parse the WSDL (blocking) and bind its SOAP 1.1 port to `endpoint`."""
        transport = QuietAsyncTransport(timeout=timeout_s, operation_timeout=timeout_s)
        # force_https off: the operator's endpoint is used exactly as configured.
        client = zeep.AsyncClient(wsdl, transport=transport,
                                  settings=zeep.Settings(force_https=False))
        service = AsyncServiceProxy(client, _soap11_binding(client), address=endpoint)
        return cls(service, transport, usuario=usuario, password=password,
                   timeout_s=timeout_s, batch_size=batch_size, retry=retry or RetryPolicy())

    async def aclose(self) -> None:
        await self._transport.aclose()

    # -- cancel ---------------------------------------------------------------------------

    async def cancel(self, items: Sequence[CancelItem]) -> CancelResult:
        """Cancel `items` in calls of at most `batch_size`; one outcome per item, in order."""
        before = self.calls
        outcomes: list[InvoiceOutcome] = []
        first_error: PacError | None = None
        for start in range(0, len(items), self.batch_size):
            chunk = items[start:start + self.batch_size]
            if first_error is not None and first_error.status_class in _STOP_CLASSES:
                outcomes += [_failed(item.ref, first_error) for item in chunk]
                continue
            try:
                answer = await self._call(
                    "cancelar", retry_timeouts=True,
                    solicitudesCancelacion=[wire.cancel_item(i) for i in chunk])
            except PacError as exc:
                first_error = first_error or exc
                outcomes += [_failed(item.ref, exc) for item in chunk]
                continue
            outcomes += _cancel_outcomes(chunk, answer)
        return CancelResult(outcomes=outcomes, calls=self.calls - before, error=first_error)

    # -- send -----------------------------------------------------------------------------

    async def send(self, request: SendRequest) -> SendResult:
        """E-mail the invoices to the contacts in one call.

        A timeout is not retried: the provider may have sent the mail already, and a
        second copy to a customer is worse than a clear "unknown, check before resending".
        """
        before = self.calls
        pairs = [(ref, email) for ref in request.refs for email in request.emails]
        try:
            answer = await self._call("enviar", retry_timeouts=False,
                                      solicitudEnvio=wire.send_request(request))
        except PacError as exc:
            return SendResult(status=None, mensaje=None, calls=self.calls - before, error=exc,
                              outcomes=[_send_failed(ref, email, exc) for ref, email in pairs])
        return SendResult(status=answer.status, mensaje=answer.mensaje,
                          calls=self.calls - before, outcomes=_send_outcomes(pairs, answer))

    # -- one call, retried ----------------------------------------------------------------

    async def _call(self, operation: str, *, retry_timeouts: bool, **arguments: Any) -> Any:
        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, PacError) or not exc.retryable:
                return False
            return retry_timeouts or not isinstance(exc, PacTimeout)

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("provider %s failed (%s), attempt %d; retrying", operation,
                        getattr(exc, "code", "?"), state.attempt_number)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.attempts) | stop_after_delay(self.retry.total_s),
            # Exponential steps plus up to one initial step of jitter, so that many bot
            # instances retrying the same outage do not hit the provider in lock-step.
            wait=wait_exponential(multiplier=self.retry.initial_s, max=self.retry.max_wait_s)
            + wait_random(0, self.retry.initial_s),
            retry=retry_if_exception(should_retry),
            before_sleep=before_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._call_once(operation, arguments)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _call_once(self, operation: str, arguments: dict[str, Any]) -> Any:
        self.calls += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                answer = await getattr(self._service, operation)(
                    usuario=self._usuario, password=self._password, **arguments)
        except PacError:
            raise
        except Exception as exc:
            raise self._typed(exc) from None
        status = getattr(answer, "status", None)
        if not isinstance(status, int):
            raise PacMalformedResponse(
                f"the provider's answer to {operation} has no status: wrong namespace or shape")
        if status == 200 or (operation == "cancelar" and status in CANCELLATION):
            return answer
        if operation == "enviar" and getattr(answer, "resultados", None):
            return answer  # some e-mails failed: the per-contact results say which
        klass = operation_class(status) or StatusClass.FINAL
        raise PacOperationError(status, self._scrub(answer.mensaje or ""), klass)

    def _typed(self, exc: Exception) -> PacError:
        """One typed error per way a call can fail; the text is scrubbed of the password."""
        text = self._scrub(str(exc))[:300]
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            return PacTimeout(f"the provider did not answer within {self.timeout_s:g} s")
        if isinstance(exc, httpx.ConnectError | ConnectionError):
            return PacConnectionError(f"could not connect to the provider: {text}")
        if isinstance(exc, httpx.HTTPError | OSError):
            return PacConnectionError(f"the connection to the provider failed: {text}")
        if isinstance(exc, zeep.exceptions.Fault):
            return PacSoapFault(f"the provider answered a SOAP fault: {self._scrub(exc.message)}")
        if isinstance(exc, zeep.exceptions.TransportError):
            if exc.status_code and exc.status_code >= 400:
                return PacHTTPError(f"the provider answered HTTP {exc.status_code} without a "
                                    "SOAP message", exc.status_code)
            return PacMalformedResponse("the provider's answer is not well-formed XML "
                                        "(truncated or not XML)")
        if isinstance(exc, zeep.exceptions.ValidationError):
            return PacRequestError(f"the request does not fit the provider's WSDL: {text}")
        if isinstance(exc, zeep.exceptions.Error | etree.LxmlError | ValueError):
            return PacMalformedResponse(f"the provider's answer could not be read: {text}")
        return PacError(f"unexpected failure calling the provider: {type(exc).__name__}")

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text


def _soap11_binding(client: zeep.Client) -> Any:
    """The first SOAP 1.1 binding of the WSDL (providers often publish 1.1, 1.2 and HTTP)."""
    for service in client.wsdl.services.values():
        for port in service.ports.values():
            if isinstance(port.binding, Soap11Binding):
                return port.binding
    raise ValueError("the WSDL has no SOAP 1.1 port")


def _decode_acuse(acuse: str | None) -> str | None:
    if not acuse:
        return None
    try:
        return base64.b64decode(acuse, validate=False).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        log.warning("acuseSAT is not valid base64; kept as received")
        return acuse


def _result_keys(result: Any) -> list[str]:
    keys = []
    if result.uuid and (uuid := normalize_uuid(str(result.uuid).split("|")[0])):
        keys.append(uuid)
    if result.serie and result.folio is not None:
        keys.append(f"{str(result.serie).strip().upper()}-{result.folio}")
    return keys


def _cancel_outcomes(chunk: Sequence[CancelItem], answer: Any) -> list[InvoiceOutcome]:
    """Pair each requested item with its result: by UUID or serie-folio, then by position."""
    acuse = _decode_acuse(answer.acuseSAT)
    results = list(answer.resultadosCancelacion or [])
    by_key: dict[str, int] = {}
    for index, result in enumerate(results):
        for key in _result_keys(result):
            by_key.setdefault(key, index)
    used: set[int] = set()
    paired: list[Any | None] = []
    for item in chunk:
        index = by_key.get(item.ref.key)
        if index is not None and index not in used:
            used.add(index)
            paired.append(results[index])
        else:
            paired.append(None)
    leftovers = iter(i for i in range(len(results)) if i not in used)
    outcomes = []
    for item, result in zip(chunk, paired, strict=True):
        if result is None and (spare := next(leftovers, None)) is not None:
            result = results[spare]
        outcomes.append(_one_outcome(item.ref, result, answer, acuse))
    return outcomes


def _one_outcome(ref: InvoiceRef, result: Any, answer: Any, acuse: str | None) -> InvoiceOutcome:
    if result is None:
        if not answer.resultadosCancelacion and answer.status in CANCELLATION:
            # A one-invoice answer may carry its code only at the operation level.
            c = classify_invoice(None, None, answer.mensaje, answer.status)
            return InvoiceOutcome(ref=ref, outcome=c.outcome, code=c.code, nuance=c.nuance,
                                  detalle=answer.mensaje, acuse=acuse)
        return InvoiceOutcome(ref=ref, outcome=Outcome.FAILED, code="missing_result",
                              detalle="the provider returned no result for this invoice")
    detalle = result.detalle or result.mensaje
    c = classify_invoice(result.estatus, result.estatusUUID, detalle, answer.status)
    return InvoiceOutcome(ref=ref, outcome=c.outcome, code=c.code, nuance=c.nuance,
                          detalle=detalle, estatus_uuid=result.estatusUUID, acuse=acuse)


def _failed(ref: InvoiceRef, exc: PacError) -> InvoiceOutcome:
    return InvoiceOutcome(ref=ref, outcome=Outcome.FAILED, code=exc.code, detalle=exc.message,
                          error_class=exc.status_class)


def _send_failed(ref: InvoiceRef, email: str, exc: PacError) -> SendOutcome:
    return SendOutcome(ref=ref, email=email, outcome=Outcome.FAILED, code=exc.code,
                       detalle=exc.message, error_class=exc.status_class)


def _send_outcomes(pairs: list[tuple[InvoiceRef, str]], answer: Any) -> list[SendOutcome]:
    """Per (invoice, e-mail) results when the provider gives them, else the call's status."""
    given: dict[tuple[str, str], Any] = {}
    for result in answer.resultados or []:
        for key in _result_keys(result):
            given[(key, str(result.email or "").lower())] = result
    outcomes = []
    for ref, email in pairs:
        result = given.get((ref.key, email.lower()))
        status = result.status if result is not None else answer.status
        detalle = (result.mensaje if result is not None else None) or answer.mensaje
        outcomes.append(SendOutcome(
            ref=ref, email=email, outcome=Outcome.SENT if status == 200 else Outcome.FAILED,
            code=str(status), detalle=detalle))
    return outcomes

"""Solución Factible's web service through zeep: cancel invoices in batches, e-mail them.

Built once at start (`PacClient.create` parses the WSDL in a worker thread, off the event
loop) and checked against what the bot needs (checks.py): a WSDL that lacks an element
stops the start. zeep builds each request from the loaded WSDL; the answer is read off the
wire by local name (answers.py), so both spellings of the provider's fields work. Every
call is bounded by `timeout_s` as a whole, retried with jittered exponential backoff only
when the failure says "try again", and every failure becomes a typed PacError whose text
never holds the password.

Why this module is long: a call to the provider and the reading of its answer per invoice
are one concern (what the provider said); the wire mapping is in wire.py.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import httpx
import zeep
import zeep.exceptions
from zeep.proxy import AsyncServiceProxy
from zeep.wsdl.bindings.soap import Soap11Binding

from bot.providers.contract import (
    CancelResult,
    FailureCode,
    InvoiceOutcome,
    SendOutcome,
    SendRequest,
    SendResult,
    StatusClass,
    Step,
    Unsupported,
)
from bot.providers.solucion_factible import answers, checks, wire
from bot.providers.solucion_factible.codes import CANCELLATION, classify_invoice, operation_class
from bot.providers.solucion_factible.errors import (
    PacConnectionError,
    PacContractError,
    PacError,
    PacHTTPError,
    PacInvoiceNotFound,
    PacMalformedResponse,
    PacOperationError,
    PacRequestError,
    PacTimeout,
)
from bot.providers.solucion_factible.transport import QuietAsyncTransport
from bot.retries import RetryPolicy, retrying
from bot.sat.cancellation import CancelItem
from bot.sat.cfdi import MAX_CFDI_BYTES
from bot.sat.outcomes import Nuance, Outcome
from bot.sat.refs import InvoiceRef, normalize_uuid

log = logging.getLogger(__name__)

# Whole-call failures after which further batches would only repeat the failure (and, for
# credentials, bring the account closer to the lock-out of code 604).
_STOP_CLASSES = {StatusClass.CREDENTIALS, StatusClass.CONFIGURATION}
# Failures of an e-mail call after which nobody can tell whether the mail went out.
_MAY_HAVE_SENT = (PacTimeout, PacMalformedResponse, PacHTTPError)
ONE_BY_ONE_AT_ONCE = 4   # one-invoice calls in flight together when re-asking
SEND_FAILED = 500        # enviar: "an error occurred": not sent, not retried
NOT_FOUND = 623          # descargarXML: the provider has no such invoice


class PacSendResult(SendResult):
    """`enviar`'s answer, with the operation status and message the provider gave."""

    status: int | None
    mensaje: str | None


class PacClient:
    """Solución Factible behind the provider contract (bot.providers.contract.Provider)."""

    sends_by_uuid_only = True  # enviar names invoices by UUID only (wire.send_request)

    def __init__(self, service: AsyncServiceProxy, transport: QuietAsyncTransport,
                 inspection: checks.Inspection, *, usuario: str, password: str,
                 timeout_s: float, batch_size: int, retry: RetryPolicy) -> None:
        self._service = service
        self._transport = transport
        self.inspection = inspection
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
        """Parse the WSDL (blocking), check it, and bind its SOAP 1.1 port to `endpoint`.

        Raises PacContractError when the WSDL lacks what the bot sends or reads."""
        transport = QuietAsyncTransport(timeout=timeout_s, operation_timeout=timeout_s)
        # force_https off: the operator's endpoint is used exactly as configured.
        # raw_response: the answer is read by local name (answers.py), not by zeep.
        client = zeep.AsyncClient(wsdl, transport=transport, settings=zeep.Settings(
            force_https=False, raw_response=True))
        binding = soap11_binding(client)
        inspection = checks.inspect(binding)
        if inspection.problems:
            raise PacContractError(inspection.problems)
        service = AsyncServiceProxy(client, binding, address=endpoint)
        return cls(service, transport, inspection, usuario=usuario, password=password,
                   timeout_s=timeout_s, batch_size=batch_size, retry=retry or RetryPolicy())

    async def aclose(self) -> None:
        await self._transport.aclose()

    # -- cancel ---------------------------------------------------------------------------

    def _chunks(self, items: Sequence[CancelItem], size: int) -> list[list[CancelItem]]:
        """Calls of at most `size`; one reason per call where the WSDL wants the reason
        beside the list."""
        groups: list[list[CancelItem]] = [list(items)]
        if self.inspection.motivo_in_call:
            by_reason: dict[str, list[CancelItem]] = {}
            for item in items:
                by_reason.setdefault(item.reason.value, []).append(item)
            groups = list(by_reason.values())
        return [group[i:i + size] for group in groups for i in range(0, len(group), size)]

    async def cancel(self, items: Sequence[CancelItem], *, one_per_call: bool = False,
                     step: Step | None = None) -> CancelResult:
        """One outcome per item, in the caller's order; each call under `step` if given."""
        before = self.calls
        chunks = self._chunks(items, 1 if one_per_call else self.batch_size)
        gate = asyncio.Semaphore(ONE_BY_ONE_AT_ONCE if one_per_call else 1)
        errors: list[PacError] = []

        async def one(chunk: list[CancelItem]) -> list[tuple[CancelItem, InvoiceOutcome]]:
            async with gate, (step or contextlib.nullcontext)():
                stop = next((e for e in errors if e.status_class in _STOP_CLASSES), None)
                if stop is not None:
                    return [(item, _failed(item.ref, stop)) for item in chunk]
                try:
                    answer = await self._call("cancelar", retry_timeouts=True,
                                              **self._cancel_arguments(chunk))
                except PacError as exc:
                    errors.append(exc)
                    return [(item, _failed(item.ref, exc)) for item in chunk]
                return list(zip(chunk, _cancel_outcomes(chunk, answer), strict=True))

        done = [pair for pairs in await asyncio.gather(*(one(c) for c in chunks))
                for pair in pairs]
        by_item = {id(item): outcome for item, outcome in done}
        return CancelResult(outcomes=[by_item[id(item)] for item in items],
                            calls=self.calls - before, error=errors[0] if errors else None)

    def _cancel_arguments(self, chunk: list[CancelItem]) -> dict[str, Any]:
        motivo = self.inspection.motivo_in_item
        arguments: dict[str, Any] = {"solicitudesCancelacion": [
            wire.cancel_item(item, motivo=motivo) for item in chunk]}
        if self.inspection.motivo_in_call:
            arguments["motivoCancelacion"] = chunk[0].reason.value
        return arguments

    # -- send -----------------------------------------------------------------------------

    async def send(self, request: SendRequest) -> SendResult:
        """E-mail the invoices to the contacts in one call, never retried: a second copy to
        a customer is worse than "unknown, check before sending again"."""
        before = self.calls
        pairs = [(ref, email) for ref in request.refs for email in request.emails]
        try:
            answer = await self._call("enviar", retry_timeouts=False,
                                      solicitudEnvio=wire.send_request(request))
        except PacError as exc:
            return PacSendResult(status=getattr(exc, "status", None), mensaje=exc.message,
                              calls=self.calls - before, error=exc,
                              outcomes=[_send_failed(ref, email, exc) for ref, email in pairs])
        return PacSendResult(status=answer.estatus, mensaje=answer.mensaje,
                          calls=self.calls - before, outcomes=[
                              SendOutcome(ref=ref, email=email, outcome=Outcome.SENT,
                                          code="200", detalle=answer.mensaje)
                              for ref, email in pairs])

    # -- the invoice's XML ------------------------------------------------------------------

    async def invoice_xml(self, ref: InvoiceRef) -> bytes:
        """`descargarXML`, retried like a cancellation (reading twice is harmless)."""
        if not self.inspection.download:
            raise Unsupported("the provider's WSDL has no descargarXML: the invoice's XML "
                              "cannot be downloaded")
        answer = await self._call("descargarXML", retry_timeouts=True,
                                  **wire.download_request(ref))
        text = "".join((answer.xml or "").split())
        if len(text) > MAX_CFDI_BYTES * 4 // 3 + 4:
            raise PacMalformedResponse("the provider's XML is larger than an invoice can be")
        try:
            xml = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            xml = b""
        if not xml:
            raise PacMalformedResponse("the provider's answer to descargarXML holds no "
                                       "base64 XML")
        return xml

    # -- one call, retried ----------------------------------------------------------------

    async def _call(self, operation: str, *, retry_timeouts: bool, **arguments: Any
                    ) -> answers.Answer:
        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, PacError) or not exc.retryable:
                return False
            return retry_timeouts or not isinstance(exc, PacTimeout)

        attempts = retrying(self.retry, should_retry, log, f"provider {operation}")
        async for attempt in attempts:
            with attempt:
                return await self._call_once(operation, arguments)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _call_once(self, operation: str, arguments: dict[str, Any]) -> answers.Answer:
        self.calls += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await getattr(self._service, operation)(
                    usuario=self._usuario, password=self._password, **arguments)
        except PacError:
            raise
        except Exception as exc:
            raise self._typed(exc) from None
        answer = answers.read(response.content, operation, self.inspection.namespace)
        status = answer.estatus
        if status == 200 or (operation == "cancelar" and status in CANCELLATION):
            return answer
        mensaje = self._scrub(answer.mensaje or "")
        if operation == "enviar" and status == SEND_FAILED:
            raise PacOperationError(status, mensaje, StatusClass.FINAL)
        klass = operation_class(status) or StatusClass.FINAL
        if operation == "descargarXML" and status == NOT_FOUND:
            raise PacInvoiceNotFound(status, mensaje, klass)
        raise PacOperationError(status, mensaje, klass)

    def _typed(self, exc: Exception) -> PacError:
        """One typed error per way a call can fail; the text is scrubbed of the password."""
        text = self._scrub(str(exc))[:300]
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            return PacTimeout(f"the provider did not answer within {self.timeout_s:g} s")
        if isinstance(exc, httpx.ConnectError | ConnectionError):
            return PacConnectionError(f"could not connect to the provider: {text}")
        if isinstance(exc, httpx.HTTPError | OSError):
            return PacConnectionError(f"the connection to the provider failed: {text}")
        if isinstance(exc, zeep.exceptions.TransportError):
            if exc.status_code and exc.status_code >= 400:
                return PacHTTPError(f"the provider answered HTTP {exc.status_code} without a "
                                    "SOAP message", exc.status_code)
            return PacMalformedResponse("the provider's answer is not well-formed XML "
                                        "(truncated or not XML)")
        if isinstance(exc, zeep.exceptions.ValidationError | TypeError):
            return PacRequestError(f"the request does not fit the provider's WSDL: {text}")
        return PacError(f"unexpected failure calling the provider: {type(exc).__name__}")

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text


def soap11_binding(client: zeep.Client) -> Any:
    """The first SOAP 1.1 binding of the WSDL (providers often publish 1.1, 1.2 and HTTP)."""
    for service in client.wsdl.services.values():
        for port in service.ports.values():
            if isinstance(port.binding, Soap11Binding):
                return port.binding
    raise PacContractError(["The provider's WSDL has no SOAP 1.1 port."])


def _decode_acuse(acuse: str | None) -> str | None:
    if not acuse:
        return None
    try:
        return base64.b64decode("".join(acuse.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        # Not an acknowledgment we can read: nothing is uploaded (a garbage file in the
        # thread would pass for the SAT's document); the outcome is kept as answered.
        log.warning("acuseSAT is not base64 of UTF-8 text; not kept")
        return None


def _result_keys(result: answers.Result) -> list[str]:
    keys = []
    if result.uuid and (uuid := normalize_uuid(result.uuid.split("|")[0])):
        keys.append(uuid)
    if result.serie and result.folio and result.folio.isdigit():
        keys.append(f"{result.serie.strip().upper()}-{int(result.folio)}")
    return keys


def _cancel_outcomes(chunk: Sequence[CancelItem], answer: answers.Answer
                     ) -> list[InvoiceOutcome]:
    """Pair each requested item with the result that names it (UUID or serie-folio). By
    position only when the counts match and the answer names no invoice at all; an item no
    result names gets no final state (it is asked again)."""
    acuse = _decode_acuse(answer.acuse)
    results = answer.resultados
    by_key: dict[str, answers.Result] = {}
    for result in results:
        for key in _result_keys(result):
            by_key.setdefault(key, result)
    anonymous = not by_key and len(results) == len(chunk)
    alone = len(chunk) == 1
    outcomes = []
    for position, item in enumerate(chunk):
        result = results[position] if anonymous else by_key.get(item.ref.key)
        if result is None and not (alone and not results):
            outcomes.append(InvoiceOutcome(
                ref=item.ref, outcome=Outcome.PENDING, code=FailureCode.UNNAMED,
                nuance=Nuance.UNNAMED,
                detalle=answer.mensaje))
            continue
        detalle = (result.detalle or result.mensaje) if result else answer.mensaje
        c = classify_invoice(result.estatus if result else None,
                             result.estatus_uuid if result else None, detalle,
                             answer.estatus, alone=alone)
        outcomes.append(InvoiceOutcome(
            ref=item.ref, outcome=c.outcome, code=c.code, nuance=c.nuance, detalle=detalle,
            estatus_uuid=result.estatus_uuid if result else None, acuse=acuse))
    return outcomes


def _failed(ref: InvoiceRef, exc: PacError) -> InvoiceOutcome:
    return InvoiceOutcome(ref=ref, outcome=Outcome.FAILED, code=exc.code, detalle=exc.message,
                          error_class=exc.status_class)


def _send_failed(ref: InvoiceRef, email: str, exc: PacError) -> SendOutcome:
    """A send that may have gone out (no answer, an unreadable one) is unknown, never failed:
    a person checks before sending again."""
    outcome = Outcome.UNKNOWN if isinstance(exc, _MAY_HAVE_SENT) else Outcome.FAILED
    refused = isinstance(exc, PacOperationError) and exc.status == SEND_FAILED
    return SendOutcome(ref=ref, email=email, outcome=outcome,
                       code=f"send:{exc.code}" if refused else exc.code,
                       detalle=exc.mensaje if refused else exc.message,
                       error_class=exc.status_class)

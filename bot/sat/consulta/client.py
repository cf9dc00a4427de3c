"""The SAT's public status service (ConsultaCFDIService.Consulta) through zeep.

Built once (the shipped WSDL is parsed in a worker thread, off the event loop) and bound to
SAT_CONSULTA_URL. zeep builds the request from the WSDL (the SOAPAction
`http://tempuri.org/IConsultaCFDIService/Consulta`, the expression qualified in
http://tempuri.org/); the answer is read off the wire by local name, as the provider's is, so
a field the SAT adds (as ValidacionEFOS was in 2020) or drops does not break it. Every call is
bounded by `timeout_s` as a whole and retried with the provider's backoff only when the
failure says "try again" (a timeout, a connection failure, an HTTP 5xx or 429). No
credentials: nothing here is secret.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import zeep
from lxml import etree
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport

from bot.retries import RetryPolicy, retrying
from bot.sat.status import SatStatus, expression

log = logging.getLogger(__name__)

SHIPPED_WSDL = Path(__file__).parent / "ConsultaCFDIService.wsdl"
PRODUCTION = "https://consultaqr.facturaelectronica.sat.gob.mx/ConsultaCFDIService.svc"
TEMPURI = "http://tempuri.org/"
BINDING = f"{{{TEMPURI}}}BasicHttpBinding_IConsultaCFDIService"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
FIELDS = {"CodigoEstatus": "codigo_estatus", "Estado": "estado",
          "EsCancelable": "es_cancelable", "EstatusCancelacion": "estatus_cancelacion",
          "ValidacionEFOS": "validacion_efos"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


class SatError(Exception):
    """The SAT's service could not answer. One sentence; `code` names it in the audit log."""

    code = "sat_error"
    retryable = False

    def __init__(self, message: str, *, code: str | None = None,
                 retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable


class SatTimeout(SatError):
    """The SAT's status service did not answer in time."""

    code, retryable = "sat_timeout", True


class SatUnreachable(SatError):
    """The SAT's status service could not be reached."""

    code, retryable = "sat_connection", True


class SatMalformed(SatError):
    """The SAT's status service answered something that cannot be read."""

    code = "sat_malformed"


def _local(node: Any) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def read(body: bytes) -> SatStatus:
    """The ConsultaResult of an answer, or SatError (a fault, not SOAP, another answer)."""
    try:
        envelope = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        raise SatMalformed("the SAT's answer is not well-formed XML") from None
    soap_body = envelope.find(f"{{{SOAP_ENV}}}Body")
    first = soap_body[0] if soap_body is not None and len(soap_body) else None
    if first is None:
        raise SatMalformed("the SAT's answer is not a SOAP 1.1 envelope")
    if _local(first) == "Fault":
        why = next((c.text for c in first if _local(c) == "faultstring"), None) or "no reason"
        raise SatError(f"the SAT answered a SOAP fault: {why.strip()[:200]}", code="sat_fault")
    result = next((c for c in first if _local(c) == "ConsultaResult"), None)
    if _local(first) != "ConsultaResponse" or etree.QName(first).namespace != TEMPURI or \
            result is None:
        raise SatMalformed(f"the SAT's answer is {etree.QName(first).text}, not a "
                           "ConsultaResponse with its ConsultaResult")
    fields = {FIELDS[_local(c)]: (c.text or "").strip() or None for c in result
              if _local(c) in FIELDS}
    return SatStatus(**fields)


class SatClient:
    """Asks the SAT about one invoice at a time; callers bound how many at once."""

    def __init__(self, service: AsyncServiceProxy, transport: AsyncTransport, *,
                 timeout_s: float, retry: RetryPolicy) -> None:
        self._service = service
        self._transport = transport
        self.timeout_s = timeout_s
        self.retry = retry
        self.calls = 0  # HTTP calls made, retries included (tests, benchmarks)

    @classmethod
    async def create(cls, address: str, **options: Any) -> SatClient:
        return await asyncio.to_thread(cls.build, address, **options)

    @classmethod
    def build(cls, address: str, *, timeout_s: float = 10, retry: RetryPolicy | None = None,
              wsdl: str | Path = SHIPPED_WSDL) -> SatClient:
        transport = AsyncTransport(timeout=timeout_s, operation_timeout=timeout_s)
        client = zeep.AsyncClient(str(wsdl), transport=transport, settings=zeep.Settings(
            force_https=False, raw_response=True))
        service = client.create_service(BINDING, address)
        return cls(service, transport, timeout_s=timeout_s, retry=retry or RetryPolicy())

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def status(self, issuer_rfc: str, receiver_rfc: str, total: str, uuid: str
                     ) -> SatStatus:
        """What the SAT says about the invoice these four facts name."""
        asked = expression(issuer_rfc, receiver_rfc, total, uuid)
        attempts = retrying(self.retry, lambda exc: isinstance(exc, SatError) and
                            exc.retryable, log, "SAT Consulta")
        async for attempt in attempts:
            with attempt:
                return await self._once(asked)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _once(self, asked: str) -> SatStatus:
        self.calls += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self._service.Consulta(expresionImpresa=asked)
        except (TimeoutError, httpx.TimeoutException):
            raise SatTimeout(f"the SAT did not answer within {self.timeout_s:g} s") from None
        except (httpx.HTTPError, OSError) as exc:
            raise SatUnreachable(f"could not reach the SAT: {str(exc)[:200]}") from None
        status = response.status_code
        xml = "xml" in response.headers.get("Content-Type", "")
        if status == 200 or (status == 500 and xml):  # WCF answers a fault with HTTP 500
            return read(response.content)
        raise SatError(f"the SAT answered HTTP {status} without a SOAP message",
                       code=f"sat_http:{status}", retryable=status >= 500 or status == 429)

"""The SAT stand-in: a real HTTP server that speaks ConsultaCFDIService as the SAT's does.

GET  /ConsultaCFDIService.svc?wsdl  the shipped WSDL, its address rewritten to this server
POST /ConsultaCFDIService.svc       Consulta(expresionImpresa)

It serves as WCF's BasicHttpBinding does: SOAP 1.1 only (another Content-Type is HTTP 415),
dispatched on the SOAPAction (another action is an `ActionNotSupported` fault, HTTP 500), the
request's elements qualified in http://tempuri.org/ (an unqualified expression is not seen:
"N - 601"). The answer is WCF's: `ConsultaResponse` in http://tempuri.org/, `ConsultaResult`'s
children in the DataContract namespace, an empty value as `i:nil="true"`.

It knows the invoices the provider sandbox has issued (the same book) and shows them as the
provider sandbox has left them (the same memory and delays, pac_rules.sat_view): an invoice
is found only when issuer, receiver, total and UUID all match (the total compared as an
amount; an `&` in an RFC written `&amp;`).
"""

from __future__ import annotations

import html
import re
import time
from collections import Counter
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from lxml import etree

from bot.sandbox import pac_rules as rules
from bot.sandbox.invoices import SandboxBook
from bot.sandbox.serving import QuietHandler, SoapStandIn
from bot.sat.consulta.client import SHIPPED_WSDL, SOAP_ENV, TEMPURI
from bot.sat.refs import normalize_uuid

PATH = "/ConsultaCFDIService.svc"
ACTION = "http://tempuri.org/IConsultaCFDIService/Consulta"
DATA = "http://schemas.datacontract.org/2004/07/Sat.Cfdi.Negocio.ConsultaCfdi.Servicio"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
FOUND = "S - Comprobante obtenido satisfactoriamente."
INVALID = "N - 601: La expresión impresa proporcionada no es válida."
NOT_FOUND = "N - 602: Comprobante no encontrado."
EFOS_CLEAR = "200"
_WSDL_TEXT = SHIPPED_WSDL.read_text(encoding="utf-8")
_FIELD = r"(?:^|[?&]){name}=((?:[^&]|&amp;)*)"


def _field(expression: str, name: str) -> str | None:
    found = re.search(_FIELD.format(name=name), expression)
    return html.unescape(found.group(1)).strip() if found else None


def _envelope() -> tuple[etree._Element, etree._Element]:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"s": SOAP_ENV})
    return env, etree.SubElement(env, f"{{{SOAP_ENV}}}Body")


def _fault(code: str, text: str) -> bytes:
    env, body = _envelope()
    fault = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode", nsmap={"a": "http://schemas.microsoft.com/ws/2005/"
                                                     "05/addressing/none"}).text = code
    node = etree.SubElement(fault, "faultstring")
    node.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    node.text = text
    return etree.tostring(env)


class SandboxSat(SoapStandIn):
    """The SAT's status service over the provider sandbox's invoices and memory."""

    path = PATH
    wsdl_text = _WSDL_TEXT

    def __init__(self, state: rules.SandboxState, book: SandboxBook, *,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.state, self.book = state, book
        self.calls: Counter[str] = Counter()   # UUID asked -> times
        self.down = False                        # answer HTTP 503 (an outage)
        self.delay_s = 0.0                       # hold every answer this long
        self.last_request: bytes = b""
        super().__init__(self._handler(), host, port)

    def answer(self, body: bytes, action: str, content_type: str) -> tuple[int, str, bytes]:
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.down:
            return 503, "text/html", b"<html><body>Service Unavailable</body></html>"
        if not content_type.startswith("text/xml"):
            return 415, "text/plain", b"Cannot process the message because the content type " \
                b"is not the expected type 'text/xml; charset=utf-8'."
        if action.strip('"') != ACTION:
            return 500, "text/xml; charset=utf-8", _fault(
                "a:ActionNotSupported", f"The message with Action '{action}' cannot be "
                "processed at the receiver, due to a ContractFilter mismatch.")
        self.last_request = body
        try:
            env = etree.fromstring(body, etree.XMLParser(resolve_entities=False,
                                                         no_network=True))
        except etree.XMLSyntaxError:
            return 400, "text/html", b"<html><body>Bad Request</body></html>"
        asked = env.findtext(f"{{{SOAP_ENV}}}Body/{{{TEMPURI}}}Consulta/"
                             f"{{{TEMPURI}}}expresionImpresa")
        return 200, "text/xml; charset=utf-8", self._result(*self._consulta(asked or ""))

    def _consulta(self, asked: str) -> tuple[str, rules.SatView]:
        values = {name: _field(asked, name) for name in ("re", "rr", "tt", "id")}
        uuid = normalize_uuid(values["id"] or "")
        try:
            total = Decimal(values["tt"] or "")
        except InvalidOperation:
            total = None
        if uuid is None or total is None or not values["re"] or not values["rr"]:
            return INVALID, rules.SatView(rules.NO_ENCONTRADO)
        self.calls[uuid] += 1
        facts = self.book.get(uuid)
        view = rules.sat_view(self.state, uuid)
        if (values["re"], values["rr"], total) != (facts.issuer_rfc, facts.receiver_rfc,
                                                   facts.amount) or \
                view.estado == rules.NO_ENCONTRADO:
            return NOT_FOUND, rules.SatView(rules.NO_ENCONTRADO)
        return FOUND, view

    @staticmethod
    def _result(codigo: str, view: rules.SatView) -> bytes:
        env, body = _envelope()
        response = etree.SubElement(body, f"{{{TEMPURI}}}ConsultaResponse",
                                    nsmap={None: TEMPURI})
        result = etree.SubElement(response, f"{{{TEMPURI}}}ConsultaResult",
                                  nsmap={"a": DATA, "i": XSI})
        found = codigo == FOUND
        for name, value in (("CodigoEstatus", codigo),
                            ("EsCancelable", view.es_cancelable),
                            ("Estado", view.estado),
                            ("EstatusCancelacion", view.estatus_cancelacion),
                            ("ValidacionEFOS", EFOS_CLEAR if found else "")):
            node = etree.SubElement(result, f"{{{DATA}}}{name}")
            if value:
                node.text = value
            else:
                node.set(f"{{{XSI}}}nil", "true")
        return etree.tostring(env)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sat = self

        class SandboxSatHandler(QuietHandler):
            """The SAT stand-in's HTTP handler: its WSDL on GET, Consulta on POST."""

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == PATH and parts.query.lower() in ("wsdl", "singlewsdl"):
                    self.reply(200, "text/xml; charset=utf-8", sat.wsdl())
                else:
                    self.reply(404, "text/html", b"<html><body>Not Found</body></html>")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if urlsplit(self.path).path != PATH:
                    self.reply(404, "text/html", b"<html><body>Not Found</body></html>")
                    return
                self.reply(*sat.answer(body, self.headers.get("SOAPAction", ""),
                                       self.headers.get("Content-Type", "")))

        return SandboxSatHandler

"""The sandbox provider: a real HTTP server that speaks Solución Factible's CFDI33 contract.

GET  /ERPWebServices/soap/CFDI33?wsdl  the WSDL, its service address rewritten to this server
POST /ERPWebServices/soap/CFDI33       `cancelar`, `enviar` and `descargarXML`

It reads requests as a JAX-WS service does: the wrapper must be in the service's namespace
(otherwise a SOAP fault: no such operation), children are unqualified and read by name in
any order (a qualified child is not seen, so the field is missing: 611 naming it), and a
folio that is not a number is an unmarshalling fault. The reason must travel in the `uuid`
pipe (`UUID|Motivo|UUIDSustituye|FolioSustituye|SerieSustituye`): without it, 611; with an
unknown reason, 621; reason 01 without its replacement, 611. Answers use the wire's names
(`estatus`, `mensaje`, `resultados`, `acuseSAT`, `xml`), unqualified. What each invoice
answers is decided in `pac_rules`; what each invoice is (its XML) in `invoices`.

Why this module is long: it is a whole SOAP service (parsing, refusing, answering every
operation); what each invoice answers is kept apart in pac_rules.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from bot.providers.solucion_factible.wsdl import SHIPPED_WSDL
from bot.sandbox import pac_rules as rules
from bot.sandbox.invoices import SandboxBook, cfdi_xml
from bot.sandbox.serving import QuietHandler, SoapStandIn

log = logging.getLogger(__name__)

PATH = "/ERPWebServices/soap/CFDI33"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_WSDL_TEXT = SHIPPED_WSDL.read_text(encoding="utf-8")
_WSDL_DOC = etree.fromstring(_WSDL_TEXT.encode())
TNS = _WSDL_DOC.get("targetNamespace")
REASONS = {"01", "02", "03", "04"}
OPERATIONS = ("cancelar", "enviar", "descargarXML")
_OPERATION = re.compile(rb"<(?:[\w.-]+:)?(cancelar|enviar|descargarXML)[\s>/]")


class SoapFault(Exception):
    """A SOAP fault the provider stand-in answers, as the real JAX-WS service does."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


def _el(parent: etree._Element, name: str, text: Any = None) -> etree._Element:
    node = etree.SubElement(parent, name)  # unqualified, as the service's children are
    if text is not None:
        node.text = str(text).lower() if isinstance(text, bool) else str(text)
    return node


def _envelope(operation: str, namespace: str | None = None) -> tuple[bytes, etree._Element]:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV})
    body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    wrapper = etree.SubElement(body, f"{{{namespace or TNS}}}{operation}Response",
                               nsmap={"ns2": namespace or TNS})
    ret = etree.SubElement(wrapper, "return")
    return env, ret


def _fault_xml(code: str, text: str) -> bytes:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV})
    fault = etree.SubElement(etree.SubElement(env, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"soapenv:{code}"
    etree.SubElement(fault, "faultstring").text = text
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


class Refused(Exception):
    """An operation error the service answers with a code (611 missing field, 621 invalid)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


def _text(node: etree._Element, name: str) -> str | None:
    """An unqualified child's text (a qualified one is not seen, as JAXB does not)."""
    found = node.find(name)
    return found.text.strip() if found is not None and found.text else None


def _folio(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise SoapFault("Client", f"Unmarshalling Error: For input string: \"{text[:40]}\""
                        ) from None


def _acuse(uuids: list[tuple[str, str]]) -> str:
    """A plausible SAT cancellation acknowledgment (unsigned: this is a sandbox)."""
    root = etree.Element("Acuse", nsmap={None: "http://cancelacfd.sat.gob.mx"},
                         Fecha=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                         RfcEmisor="EKU9003173C9")
    for uuid, estatus in uuids:
        folios = etree.SubElement(root, "Folios")
        etree.SubElement(folios, "UUID").text = uuid
        etree.SubElement(folios, "EstatusUUID").text = estatus
    etree.SubElement(root, "SandboxNote").text = "Acuse simulado por el sandbox de CFDI Bot"
    xml = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return base64.b64encode(xml).decode()


class SandboxPac(SoapStandIn):
    """The simulator; `start()` serves it on a free port of 127.0.0.1 in a daemon thread."""

    path = PATH
    wsdl_text = _WSDL_TEXT

    def __init__(self, *, usuario: str = "sandbox", password: str = "sandbox",
                 resolve_after_s: float = 30.0, transient_failures: int = 2,
                 slow_s: float = 5.0, host: str = "127.0.0.1", port: int = 0) -> None:
        self.usuario, self.password = usuario, password
        self.slow_s = slow_s
        self.state = rules.SandboxState(resolve_after_s=resolve_after_s,
                                        transient_failures=transient_failures)
        self.book = SandboxBook()              # the invoices it has issued (their XML)
        self.calls: Counter[str] = Counter()  # operation name -> calls received
        self.asked: Counter[str] = Counter()   # how many times each UUID was asked to cancel
        self.answers_sent = 0                  # answers written back (after any slow wait)
        self.down = False                      # answer every call 503, as during an outage
        self.delay_s = 0.0                     # hold every answer this long (kill tests)
        self.in_flight = self.most_in_flight = 0
        self.in_flight_by: Counter[str] = Counter()  # operation -> calls held right now
        self._flight = threading.Lock()
        self.last_request: bytes = b""        # for tests that check what went on the wire
        self.cancel_pipes: list[tuple[str, str | None, str | None]] = []  # (uuid, serie, folio)
        self.sent: list[tuple[str, str]] = []  # (uuid, e-mail) of every e-mail sent
        super().__init__(self._handler(), host, port)

    # -- answering ------------------------------------------------------------------------

    def answer(self, body: bytes) -> tuple[int, str, bytes]:
        """(HTTP status, content type, body) for one POSTed SOAP message."""
        found = _OPERATION.search(body[:2048])
        operation = found.group(1).decode() if found else "?"
        with self._flight:
            self.in_flight += 1
            self.in_flight_by[operation] += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            if self.down:
                return 503, "text/html", b"<html><body>503 Service Unavailable</body></html>"
            return self._answer(body)
        finally:
            with self._flight:
                self.in_flight -= 1
                self.in_flight_by[operation] -= 1

    def _answer(self, body: bytes) -> tuple[int, str, bytes]:
        self.last_request = body
        try:
            request = self._parse(body)
            operation = etree.QName(request).localname
            self.calls[operation] += 1
            for field in ("usuario", "password"):
                if _text(request, field) is None:
                    raise Refused(611, f"Falta el campo requerido: {field}")
            if (_text(request, "usuario"), _text(request, "password")) != \
                    (self.usuario, self.password):
                return self._ok(*self._status_only(operation, 601, "Error de autenticación, "
                                                   "verifique sus credenciales"))
            handler = {"cancelar": self._cancelar, "enviar": self._enviar,
                       "descargarXML": self._descargar}[operation]
            return handler(request)
        except Refused as refused:
            return self._ok(*self._status_only(operation, refused.code, refused.text))
        except SoapFault as fault:
            return 500, "text/xml; charset=utf-8", _fault_xml(fault.code, fault.text)

    def _parse(self, body: bytes) -> etree._Element:
        try:
            env = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError as exc:
            raise SoapFault("Client", f"Malformed XML: {exc}") from None
        found = env.find(f"{{{SOAP_ENV}}}Body")
        if found is None or len(found) != 1:
            raise SoapFault("Client", "A SOAP 1.1 envelope with one body element is expected")
        request = found[0]
        if etree.QName(request).localname not in OPERATIONS or \
                etree.QName(request).namespace != TNS:
            raise SoapFault("Client", f"Cannot find dispatch method for {request.tag}")
        return request

    @staticmethod
    def _ok(env: etree._Element) -> tuple[int, str, bytes]:
        return 200, "text/xml; charset=utf-8", etree.tostring(env, xml_declaration=True,
                                                               encoding="utf-8")

    @staticmethod
    def _status_only(operation: str, status: int, mensaje: str) -> tuple[etree._Element]:
        env, ret = _envelope(operation)
        _el(ret, "estatus", status)
        _el(ret, "mensaje", mensaje)
        return (env,)

    def _whole_call(self, operation: str, codes: list[tuple[str, str]], *, slow: bool = True
                    ) -> Any:
        """A fault, a slow answer (cancelar, enviar) or an operation error that one invoice
        imposes on the call."""
        for key, code in codes:
            if code in {f.value for f in rules.Fault}:
                return self._broken(rules.Fault(code), operation)
            if (status := rules.whole_call_code(code)) is not None:
                if code in rules.TRANSIENT:
                    if self.state.count_try(key) > self.state.transient_failures:
                        continue
                    return self._ok(*self._status_only(operation, status, "No se pudo terminar "
                                                       "el proceso; reintente (sandbox)"))
                return self._ok(*self._status_only(operation, status,
                                                   f"Error {status} simulado por el sandbox"))
        if slow and any(code == rules.SLOW for _, code in codes):
            time.sleep(self.slow_s)
        return None

    def _broken(self, fault: rules.Fault, operation: str) -> tuple[int, str, bytes]:
        if fault is rules.Fault.SOAP_FAULT:
            return 500, "text/xml; charset=utf-8", _fault_xml("Server", "Simulated server fault")
        if fault is rules.Fault.HTML_500:
            return 500, "text/html", b"<html><body><h1>500 Internal Server Error</h1></body></html>"
        if fault is rules.Fault.TRUNCATED:
            _, _, whole = self._ok(*self._status_only(operation, 200, "ok"))
            return 200, "text/xml; charset=utf-8", whole[: len(whole) // 2]
        env, ret = _envelope(operation, namespace="http://wrong.example/ns")
        _el(ret, "estatus", 200)
        return self._ok(env)

    def _cancel_item(self, node: etree._Element) -> tuple[str, str | None, int | None, str]:
        """(uuid, serie, folio, convention code) of one solicitudesCancelacion."""
        self.cancel_pipes.append((_text(node, "uuid") or "", _text(node, "serie"),
                                  _text(node, "folio")))  # each item as it came on the wire
        parts = (_text(node, "uuid") or "").split("|")
        serie, folio = _text(node, "serie"), _folio(_text(node, "folio"))
        if len(parts) < 2 or not parts[1]:
            raise Refused(611, "Falta el motivo de cancelación en uuid "
                          "(UUID|Motivo|UUIDSustituye|FolioSustituye|SerieSustituye)")
        if parts[1] not in REASONS:
            raise Refused(621, f"Motivo de cancelación inválido: {parts[1][:10]}")
        replacement = parts[2:5] + [""] * (5 - len(parts))
        if parts[1] == "01" and not (replacement[0] or (replacement[1] and replacement[2])):
            raise Refused(611, "El motivo 01 requiere UUIDSustituye, o FolioSustituye y "
                          "SerieSustituye")
        raw_uuid = parts[0].upper() or None
        uuid = raw_uuid or (rules.uuid_for_folio(serie, folio) if serie and folio else None)
        if uuid is None:
            raise Refused(611, "Cada solicitud requiere el UUID, o el folio y la serie")
        return uuid, serie, folio, rules.code_of(raw_uuid, folio)

    def _cancelar(self, request: etree._Element) -> tuple[int, str, bytes]:
        items = [self._cancel_item(node) for node in request.findall("solicitudesCancelacion")]
        if not items:
            raise Refused(611, "Falta el campo requerido: solicitudesCancelacion")
        for uuid, *_ in items:
            self.asked[uuid] += 1
        broken = self._whole_call("cancelar", [(u, c) for u, _, _, c in items])
        if broken is not None:
            return broken
        env, ret = _envelope("cancelar")
        answers = [(item, self.state.answer(item[0], item[3])) for item in items]
        alone = len(answers) == 1
        status = answers[0][1].code if alone else 201  # a batch: "the SAT answered"
        _el(ret, "estatus", status)
        _el(ret, "mensaje", answers[0][1].detalle if alone else "Proceso de cancelación "
            "terminado; consulte el resultado de cada comprobante")
        for (uuid, serie, folio, _), answer in answers:
            result = _el(ret, "resultados")
            # In a batch a refusal (213) is not known yet: the SAT only has the request.
            denied_later = not alone and answer.code == rules.DENIED.code
            _el(result, "detalle", rules.RECEIVED.detalle if denied_later else answer.detalle)
            _el(result, "estatusUUID", answer.estatus_uuid)
            if folio is not None:
                _el(result, "folio", folio)
            if serie:
                _el(result, "serie", serie)
            _el(result, "uuid", uuid)
        acuse = [(u, a.estatus_uuid) for (u, *_), a in answers if a.reached_sat]
        if acuse:
            _el(ret, "acuseSAT", _acuse(acuse))
        return self._ok(env)

    def _enviar(self, request: etree._Element) -> tuple[int, str, bytes]:
        solicitud = request.find("solicitudEnvio")
        if solicitud is None:
            raise Refused(611, "Falta el campo requerido: solicitudEnvio")
        uuids = [(e.text or "").strip().upper() for e in solicitud.findall("uuid")]
        emails = [e.text.strip() for e in solicitud.findall("email") if e.text]
        if not uuids or not all(uuids):
            raise Refused(611, "Falta el campo requerido: uuid")
        if not emails:
            raise Refused(611, "Falta el campo requerido: email")
        broken = self._whole_call("enviar", [(u, rules.code_of(u, None)) for u in uuids])
        if broken is not None:
            return broken
        if any(email.lower().startswith(("falla", "fail")) for email in emails):
            return self._ok(*self._status_only("enviar", 500, "Ocurrió un error: no se pudo "
                                               "entregar el correo"))
        self.sent += [(uuid, email) for uuid in uuids for email in emails]
        return self._ok(*self._status_only("enviar", 200, "Correo enviado"))

    def _descargar(self, request: etree._Element) -> tuple[int, str, bytes]:
        """The invoice's XML in base64, found by uuid or by folio + serie (an empty <uuid/>
        beside them is what production clients send)."""
        uuid, serie = (_text(request, "uuid") or "").upper(), _text(request, "serie")
        folio = _folio(_text(request, "folio"))
        if not uuid and not (serie and folio is not None):
            raise Refused(611, "Falta el campo requerido: uuid, o folio y serie")
        if uuid and len(uuid.split("-")) != 5:
            raise Refused(623, "No se encontró el comprobante solicitado")
        code = rules.code_of(uuid or None, folio)
        facts = self.book.get(uuid) if uuid else self.book.by_folio(serie or "", folio or 0)
        broken = self._whole_call("descargarXML", [(f"xml:{facts.uuid}", code)], slow=False)
        if broken is not None:
            return broken
        env, ret = _envelope("descargarXML")
        _el(ret, "estatus", 200)
        _el(ret, "mensaje", "Comprobante encontrado")
        _el(ret, "xml", base64.b64encode(cfdi_xml(facts)).decode())
        return self._ok(env)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sandbox = self

        class SandboxPacHandler(QuietHandler):
            """The provider stand-in's HTTP handler: the WSDL on GET, SOAP calls on POST."""

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == PATH and parts.query.lower() == "wsdl":
                    self.reply(200, "text/xml; charset=utf-8", sandbox.wsdl())
                else:
                    self.reply(404, "text/plain", b"not found")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if urlsplit(self.path).path != PATH:
                    self.reply(404, "text/plain", b"not found")
                    return
                self.reply(*sandbox.answer(body))
                sandbox.answers_sent += 1

        return SandboxPacHandler

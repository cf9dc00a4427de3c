"""The sandbox provider: a real HTTP server that speaks the shipped WSDL.

GET  /ws/services/CFDI?wsdl  the WSDL, its service address rewritten to this server
POST /ws/services/CFDI       `cancelar` and `enviar`; requests are validated against the
                             WSDL's schema (a mismatch is a SOAP fault, as a real service)
What each invoice answers is decided in `pac_rules`.

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

from bot.config import SHIPPED_WSDL
from bot.sandbox import pac_rules as rules
from bot.sandbox.serving import BackgroundServer, QuietHandler

log = logging.getLogger(__name__)

PATH = "/ws/services/CFDI"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XS = "http://www.w3.org/2001/XMLSchema"
_WSDL_TEXT = SHIPPED_WSDL.read_text(encoding="utf-8")
_WSDL_DOC = etree.fromstring(_WSDL_TEXT.encode())
TNS = _WSDL_DOC.get("targetNamespace")
_SCHEMA = etree.XMLSchema(_WSDL_DOC.find(f".//{{{XS}}}schema"))


class SoapFault(Exception):
    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


def _el(parent: etree._Element, name: str, text: Any = None) -> etree._Element:
    node = etree.SubElement(parent, f"{{{TNS}}}{name}")
    if text is not None:
        node.text = str(text).lower() if isinstance(text, bool) else str(text)
    return node


def _envelope(operation: str, namespace: str | None = None) -> tuple[bytes, etree._Element]:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV})
    body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    wrapper = etree.SubElement(body, f"{{{namespace or TNS}}}{operation}Response",
                               nsmap={"ns": namespace or TNS})
    ret = etree.SubElement(wrapper, f"{{{namespace or TNS}}}return")
    return env, ret


def _fault_xml(code: str, text: str) -> bytes:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV})
    fault = etree.SubElement(etree.SubElement(env, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"soapenv:{code}"
    etree.SubElement(fault, "faultstring").text = text
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def _text(node: etree._Element, name: str) -> str | None:
    found = node.find(f"{{{TNS}}}{name}")
    return found.text.strip() if found is not None and found.text else None


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


class SandboxPac(BackgroundServer):
    """The simulator; `start()` serves it on a free port of 127.0.0.1 in a daemon thread."""

    def __init__(self, *, usuario: str = "sandbox", password: str = "sandbox",
                 resolve_after_s: float = 30.0, transient_failures: int = 2,
                 slow_s: float = 5.0, host: str = "127.0.0.1", port: int = 0) -> None:
        self.usuario, self.password = usuario, password
        self.slow_s = slow_s
        self.state = rules.SandboxState(resolve_after_s=resolve_after_s,
                                        transient_failures=transient_failures)
        self.calls: Counter[str] = Counter()  # operation name -> calls received
        self.asked: Counter[str] = Counter()   # how many times each UUID was asked to cancel
        self.answers_sent = 0                  # answers written back (after any slow wait)
        self.down = False                      # answer every call 503, as during an outage
        self.delay_s = 0.0                     # hold every answer this long (kill tests)
        self.in_flight = self.most_in_flight = 0
        self._flight = threading.Lock()
        self.last_request: bytes = b""        # for tests that check what went on the wire
        super().__init__(self._handler(), host, port)

    @property
    def endpoint(self) -> str:
        return self.base_url + PATH

    @property
    def wsdl_url(self) -> str:
        return self.endpoint + "?wsdl"

    # -- answering ------------------------------------------------------------------------

    def wsdl(self) -> bytes:
        return re.sub(r'(<soap:address location=")[^"]*(")', rf"\g<1>{self.endpoint}\g<2>",
                      _WSDL_TEXT).encode()

    def answer(self, body: bytes) -> tuple[int, str, bytes]:
        """(HTTP status, content type, body) for one POSTed SOAP message."""
        with self._flight:
            self.in_flight += 1
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

    def _answer(self, body: bytes) -> tuple[int, str, bytes]:
        self.last_request = body
        try:
            request = self._parse(body)
            operation = etree.QName(request).localname
            self.calls[operation] += 1
            if (request.findtext(f"{{{TNS}}}usuario"), request.findtext(f"{{{TNS}}}password")) \
                    != (self.usuario, self.password):
                return self._ok(*self._status_only(operation, 601, "Error de autenticación, "
                                                   "verifique sus credenciales"))
            handler = self._cancelar if operation == "cancelar" else self._enviar
            return handler(request)
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
        if etree.QName(request).localname not in ("cancelar", "enviar") or \
                etree.QName(request).namespace != TNS:
            raise SoapFault("Client", f"Unknown operation {request.tag}")
        if not _SCHEMA.validate(request):
            raise SoapFault("Client", "Request does not match the schema: "
                            f"{_SCHEMA.error_log.last_error}")
        return request

    @staticmethod
    def _ok(env: etree._Element) -> tuple[int, str, bytes]:
        return 200, "text/xml; charset=utf-8", etree.tostring(env, xml_declaration=True,
                                                               encoding="utf-8")

    @staticmethod
    def _status_only(operation: str, status: int, mensaje: str) -> tuple[etree._Element]:
        env, ret = _envelope(operation)
        _el(ret, "mensaje", mensaje)
        _el(ret, "status", status)
        return (env,)

    def _whole_call(self, operation: str, codes: list[tuple[str, str]]) -> Any:
        """A fault, a slow answer or an operation error that one invoice imposes on the call."""
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
        if any(code == rules.SLOW for _, code in codes):
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
        etree.SubElement(ret, "{http://wrong.example/ns}status").text = "200"
        return self._ok(env)

    def _cancelar(self, request: etree._Element) -> tuple[int, str, bytes]:
        items = []
        for node in request.findall(f"{{{TNS}}}solicitudesCancelacion"):
            raw_uuid = (_text(node, "uuid") or "").split("|")[0].upper() or None
            serie, folio_text = _text(node, "serie"), _text(node, "folio")
            folio = int(folio_text) if folio_text else None
            uuid = raw_uuid or (rules.uuid_for_folio(serie, folio) if serie and folio else None)
            if uuid is None:
                raise SoapFault("Client", "Each solicitudesCancelacion needs uuid or serie+folio")
            items.append((uuid, serie, folio, rules.code_of(raw_uuid, folio)))
            self.asked[uuid] += 1
        broken = self._whole_call("cancelar", [(u, c) for u, _, _, c in items])
        if broken is not None:
            return broken
        env, ret = _envelope("cancelar")
        answers = [(item, self.state.answer(item[0], item[3])) for item in items]
        acuse = [(u, a.estatus_uuid or "201") for (u, *_), a in answers if a.reached_sat]
        if acuse:
            _el(ret, "acuseSAT", _acuse(acuse))
        _el(ret, "mensaje", "Proceso de cancelación terminado")
        for (uuid, serie, folio, _), answer in answers:
            result = _el(ret, "resultadosCancelacion")
            _el(result, "detalle", answer.detalle)
            _el(result, "estatus", answer.estatus)
            if answer.estatus_uuid:
                _el(result, "estatusUUID", answer.estatus_uuid)
            if folio is not None:
                _el(result, "folio", folio)
            _el(result, "mensaje", answer.detalle)
            if serie:
                _el(result, "serie", serie)
            _el(result, "uuid", uuid)
        _el(ret, "status", 200)
        return self._ok(env)

    def _enviar(self, request: etree._Element) -> tuple[int, str, bytes]:
        solicitud = request.find(f"{{{TNS}}}solicitudEnvio")
        refs = []
        for node in solicitud.findall(f"{{{TNS}}}comprobantes"):
            uuid = (_text(node, "uuid") or "").upper() or None
            folio_text = _text(node, "folio")
            folio = int(folio_text) if folio_text else None
            refs.append((uuid, _text(node, "serie"), folio, rules.code_of(uuid, folio)))
        broken = self._whole_call("enviar", [(u or f"{s}-{f}", c) for u, s, f, c in refs])
        if broken is not None:
            return broken
        emails = [e.text.strip() for e in solicitud.findall(f"{{{TNS}}}emails") if e.text]
        env, ret = _envelope("enviar")
        failures = 0
        results = []
        for uuid, serie, folio, _ in refs:
            for email in emails:
                bounced = email.lower().startswith(("falla", "fail"))
                failures += bounced
                results.append((uuid, serie, folio, email, 500 if bounced else 200,
                                "No se pudo entregar el correo" if bounced else "Correo enviado"))
        _el(ret, "mensaje", "Correos enviados" if not failures else
            f"{failures} envío(s) no se pudieron completar")
        for uuid, serie, folio, email, status, mensaje in results:
            node = _el(ret, "resultados")
            _el(node, "email", email)
            if folio is not None:
                _el(node, "folio", folio)
            _el(node, "mensaje", mensaje)
            if serie:
                _el(node, "serie", serie)
            _el(node, "status", status)
            if uuid:
                _el(node, "uuid", uuid)
        _el(ret, "status", 500 if failures else 200)
        return self._ok(env)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sandbox = self

        class SandboxPacHandler(QuietHandler):
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

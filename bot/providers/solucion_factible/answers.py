"""Reading the provider's answers off the wire, by local name.

The provider's pages and its wire disagree on names (`status` xs:int on the page, `estatus`
as a string on the wire; `resultadosCancelacion` / `resultados`), and no public answer shows
the order of the children. So the bot does not let zeep map the answer onto the WSDL's
types: it reads the SOAP body itself, by local name, accepting either spelling, in any
order, qualified or not. The wrapper's namespace must be the service's: an answer in another
namespace is another service's, and is refused as malformed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from bot.providers.solucion_factible.errors import PacMalformedResponse, PacSoapFault

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
STATUS = ("estatus", "status")
RESULTS = ("resultados", "resultadosCancelacion")
XML = ("xml", "XML")  # descargarXML: `xml` on the wire, `XML` in the page's table
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True)
class Result:
    """One invoice in the answer (any field may be missing)."""

    uuid: str | None = None
    folio: str | None = None
    serie: str | None = None
    detalle: str | None = None
    estatus_uuid: str | None = None
    estatus: str | None = None   # a per-invoice provider code, where a WSDL has one
    mensaje: str | None = None


@dataclass(frozen=True)
class Answer:
    """One provider answer read by local name: its status, message and results."""

    estatus: int
    mensaje: str | None
    resultados: list[Result] = field(default_factory=list)
    acuse: str | None = None     # base64, as sent
    xml: str | None = None       # descargarXML: the invoice's XML, base64, as sent


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname


def _child_text(node: etree._Element, *names: str) -> str | None:
    for child in node:
        if isinstance(child.tag, str) and _local(child) in names:
            text = (child.text or "").strip()
            return text or None
    return None


def read(body: bytes, operation: str, namespace: str) -> Answer:
    """The answer to `operation`, or PacSoapFault / PacMalformedResponse."""
    try:
        envelope = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        raise PacMalformedResponse("the provider's answer is not well-formed XML "
                                   "(truncated or not XML)") from None
    soap_body = envelope.find(f"{{{SOAP_ENV}}}Body")
    if soap_body is None or len(soap_body) == 0:
        raise PacMalformedResponse("the provider's answer is not a SOAP 1.1 envelope")
    first = soap_body[0]
    if etree.QName(first).namespace == SOAP_ENV and _local(first) == "Fault":
        why = _child_text(first, "faultstring") or "no reason given"
        raise PacSoapFault(f"the provider answered a SOAP fault: {why[:300]}")
    if _local(first) != f"{operation}Response" or etree.QName(first).namespace != namespace:
        raise PacMalformedResponse(
            f"the provider's answer is {etree.QName(first).text}, not {operation}Response in "
            f"{namespace}: wrong namespace or another service")
    ret = next((c for c in first if isinstance(c.tag, str) and _local(c) == "return"), None)
    if ret is None:
        raise PacMalformedResponse(f"the provider's answer to {operation} has no return")
    status = _child_text(ret, *STATUS)
    try:
        code = int(status) if status is not None else None
    except ValueError:
        code = None
    if code is None:
        raise PacMalformedResponse(
            f"the provider's answer to {operation} has no numeric estatus: {status!r}")
    results = [
        Result(uuid=_child_text(node, "uuid"), folio=_child_text(node, "folio"),
               serie=_child_text(node, "serie"), detalle=_child_text(node, "detalle"),
               estatus_uuid=_child_text(node, "estatusUUID"),
               estatus=_child_text(node, *STATUS), mensaje=_child_text(node, "mensaje"))
        for node in ret if isinstance(node.tag, str) and _local(node) in RESULTS]
    return Answer(estatus=code, mensaje=_child_text(ret, "mensaje"), resultados=results,
                  acuse=_child_text(ret, "acuseSAT"), xml=_child_text(ret, *XML))

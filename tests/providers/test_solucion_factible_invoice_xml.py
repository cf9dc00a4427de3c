"""The invoice's XML from the provider (`descargarXML`), over real HTTP and real zeep: the
request as production clients send it, the answer in either spelling, the failures, a
provider WSDL without the operation, and the sandbox's invoices being consistent with what
it answers when they are cancelled."""

from __future__ import annotations

import base64
import re
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from bot.providers.contract import StatusClass, Unsupported
from bot.providers.solucion_factible.answers import read
from bot.providers.solucion_factible.client import PacClient
from bot.providers.solucion_factible.errors import PacMalformedResponse, PacOperationError
from bot.providers.solucion_factible.wsdl import SHIPPED_WSDL
from bot.sandbox.invoices import NEEDS_ACCEPTANCE
from bot.sandbox.pac_server import SandboxPac
from bot.sat.refs import InvoiceRef
from tests.helpers import ENV, FAST_RETRY, LOGIN, NS, Scripted, cli, post, uuid_with

CFDI = {"cfdi": "http://www.sat.gob.mx/cfd/4", "tfd": "http://www.sat.gob.mx/TimbreFiscalDigital"}
DESCARGAR = f'<f:descargarXML xmlns:f="{NS}">{{inner}}</f:descargarXML>'


def sent(sandbox: SandboxPac) -> etree._Element:
    return etree.fromstring(sandbox.last_request).find(f"{{{ENV}}}Body")[0]


def comprobante(xml: bytes) -> etree._Element:
    root = etree.fromstring(xml)
    assert root.tag == f"{{{CFDI['cfdi']}}}Comprobante" and root.get("Version") == "4.0"
    return root


async def test_by_uuid_only_the_uuid_is_sent(pac: PacClient, sandbox: SandboxPac) -> None:
    uuid = uuid_with("000", 7)
    xml = await pac.invoice_xml(InvoiceRef(uuid=uuid))
    request = sent(sandbox)
    assert request.tag == f"{{{NS}}}descargarXML"
    assert [(c.tag, c.text) for c in request] == [
        ("usuario", "sandbox"), ("password", "sandbox"), ("uuid", uuid)]
    stamp = comprobante(xml).find("cfdi:Complemento/tfd:TimbreFiscalDigital", CFDI)
    assert stamp.get("UUID") == uuid


async def test_by_serie_and_folio_an_empty_uuid_goes_along_as_production_sends_it(
        pac: PacClient, sandbox: SandboxPac) -> None:
    xml = await pac.invoice_xml(InvoiceRef.parse("FAC 1001"))
    # The production NetSuite client: folio, serie and an empty <uuid/>, all unqualified.
    assert [(c.tag, c.text or "") for c in sent(sandbox)] == [
        ("usuario", "sandbox"), ("password", "sandbox"), ("folio", "1001"), ("serie", "FAC"),
        ("uuid", "")]
    root = comprobante(xml)
    assert (root.get("Serie"), root.get("Folio")) == ("FAC", "1001")
    again = await pac.invoice_xml(InvoiceRef.parse("FAC-1001"))
    assert again == xml  # the same invoice every time


def test_the_answer_is_read_in_the_wire_and_the_page_spelling() -> None:
    wire = (f'<S:Envelope xmlns:S="{ENV}"><S:Body><ns2:descargarXMLResponse xmlns:ns2="{NS}">'
            '<return><estatus>200</estatus><mensaje>ok</mensaje><xml>PGEvPg==</xml></return>'
            '</ns2:descargarXMLResponse></S:Body></S:Envelope>').encode()
    page = (f'<S:Envelope xmlns:S="{ENV}"><S:Body><f:descargarXMLResponse xmlns:f="{NS}">'
            '<f:return><f:XML>PGEvPg==</f:XML><f:status>200</f:status><f:mensaje>ok</f:mensaje>'
            '</f:return></f:descargarXMLResponse></S:Body></S:Envelope>').encode()
    assert read(wire, "descargarXML", NS) == read(page, "descargarXML", NS)
    assert read(wire, "descargarXML", NS).xml == "PGEvPg=="


@pytest.mark.parametrize(("code", "status", "klass"), [
    ("623", 623, StatusClass.FINAL),          # data not found
    ("601", 601, StatusClass.CREDENTIALS),
    ("633", 633, StatusClass.CONFIGURATION),
])
async def test_an_operation_error_is_typed(pac: PacClient, code: str, status: int,
                                           klass: StatusClass) -> None:
    with pytest.raises(PacOperationError) as failed:
        await pac.invoice_xml(InvoiceRef(uuid=uuid_with(code)))
    assert (failed.value.status, failed.value.status_class) == (status, klass)
    assert "sandbox" not in str(failed.value)  # never the password


async def test_a_transient_error_is_retried(pac: PacClient, sandbox: SandboxPac) -> None:
    xml = await pac.invoice_xml(InvoiceRef(uuid=uuid_with("503")))
    assert comprobante(xml) is not None
    assert sandbox.calls["descargarXML"] == 3  # two 503s (the fixture's setting), then 200


@pytest.mark.parametrize("payload", [b"<xml>not base64!</xml>", b"<xml/>", b""])
async def test_an_answer_without_base64_xml_is_malformed(payload: bytes) -> None:
    body = (f'<S:Envelope xmlns:S="{ENV}"><S:Body><ns2:descargarXMLResponse xmlns:ns2="{NS}">'
            '<return><estatus>200</estatus><mensaje>ok</mensaje>').encode() + payload + \
        b"</return></ns2:descargarXMLResponse></S:Body></S:Envelope>"
    with Scripted(body) as server:
        client = PacClient.build(str(SHIPPED_WSDL), server.base_url + "/x", usuario="u",
                                 password="p", retry=FAST_RETRY)
        with pytest.raises(PacMalformedResponse, match="descargarXML"):
            await client.invoice_xml(InvoiceRef(uuid=uuid_with("000")))
        await client.aclose()


def without_download(tmp_path: Path) -> Path:
    """The shipped WSDL as a provider that does not publish descargarXML would have it."""
    text = SHIPPED_WSDL.read_text(encoding="utf-8")
    text = re.sub(r'\s*<operation name="descargarXML">.*?</operation>', "", text, flags=re.S)
    assert "descargarXML" in text  # its types remain; the operation is gone
    path = tmp_path / "no-download.wsdl"
    path.write_text(text, encoding="utf-8")
    return path


async def test_a_wsdl_without_descargarxml_still_starts_and_says_so(tmp_path: Path) -> None:
    client = PacClient.build(str(without_download(tmp_path)), "http://127.0.0.1:9/x",
                             usuario="u", password="p", retry=FAST_RETRY)
    assert not client.inspection.download and not client.inspection.problems
    with pytest.raises(Unsupported):
        await client.invoice_xml(InvoiceRef(uuid=uuid_with("000")))
    assert client.calls == 0
    await client.aclose()
    done = cli("provider", "check", CFDI_WSDL=str(without_download(tmp_path)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "– descargarXML sends (the operation)" in done.stdout
    assert "the bot cannot download invoices' XML from the provider" in done.stdout


def test_provider_check_lists_what_descargarxml_needs() -> None:
    done = cli("provider", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    for line in ("✓ descargarXML sends folio", "✓ descargarXML sends uuid",
                 "✓ descargarXML reads return › xml|XML",
                 "descargarXML: found; the bot can download an invoice's XML"):
        assert line in done.stdout


@pytest.mark.parametrize(("inner", "code"), [
    (LOGIN, "611"),                              # neither uuid nor folio + serie
    (f"{LOGIN}<serie>FAC</serie>", "611"),      # a serie alone
    (f"{LOGIN}<uuid>FAC-1</uuid>", "623"),      # not an invoice it has
])
async def test_the_sandbox_refuses_a_search_without_its_keys(sandbox: SandboxPac, inner: str,
                                                              code: str) -> None:
    answer = await post(sandbox, DESCARGAR, inner)
    got = read(answer.content, "descargarXML", NS)
    assert (str(got.estatus), got.xml) == (code, None)


def facts_of(xml: bytes) -> dict[str, object]:
    root = comprobante(xml)
    receiver = root.find("cfdi:Receptor", CFDI)
    return {"type": root.get("TipoDeComprobante"), "total": Decimal(root.get("Total")),
            "receiver": receiver.get("Rfc"), "method": root.get("MetodoPago"),
            "related": [(group.get("TipoRelacion"), node.get("UUID"))
                        for group in root.findall("cfdi:CfdiRelacionados", CFDI)
                        for node in group]}


@pytest.mark.parametrize("seed", range(1, 13))
async def test_sandbox_invoices_agree_with_how_their_cancellation_goes(
        pac: PacClient, seed: int) -> None:
    # Waiting for the receiver: an income invoice above $1,000 to a company.
    for code in sorted(NEEDS_ACCEPTANCE):
        facts = facts_of(await pac.invoice_xml(InvoiceRef(uuid=uuid_with(code, seed))))
        assert facts["type"] == "I" and facts["total"] > 1000, (code, facts)
        assert facts["receiver"] != "XAXX010101000"
    # Cancelled at once: exempt from acceptance (small, a credit note, or the public).
    facts = facts_of(await pac.invoice_xml(InvoiceRef(uuid=uuid_with("000", seed))))
    assert facts["total"] <= 1000 or facts["type"] == "E" or \
        facts["receiver"] == "XAXX010101000", facts
    # Not cancellable: paid in parts, with related CFDIs named in it.
    facts = facts_of(await pac.invoice_xml(InvoiceRef(uuid=uuid_with("204", seed))))
    assert facts["method"] == "PPD" and facts["related"], facts


def test_the_sandbox_xml_is_well_formed_base64_on_the_wire(sandbox: SandboxPac) -> None:
    import zeep

    answer = zeep.Client(sandbox.wsdl_url).service.descargarXML(
        usuario="sandbox", password="sandbox", uuid=uuid_with("000"))
    assert answer.estatus == "200"
    assert comprobante(answer.xml) is not None  # zeep decodes xs:base64Binary itself
    assert base64.b64encode(answer.xml)

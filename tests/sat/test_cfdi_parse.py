"""Reading an invoice's XML (bot.sat.cfdi): CFDI 3.3 and 4.0 fixtures, properties over any
facts and any bytes, and the ways a hostile file could hurt (entities, DTDs, the network,
size)."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from bot.sandbox.invoices import cfdi_xml, invent
from bot.sandbox.serving import BackgroundServer, QuietHandler
from bot.sat import cfdi
from bot.sat.cfdi import (
    MAX_CFDI_BYTES,
    NAMESPACES,
    TFD,
    CfdiError,
    CfdiFacts,
    CfdiType,
    RelatedCfdi,
    Relation,
    parse,
)
from tests.helpers import uuid_with

FIXTURES = Path(__file__).parent.parent / "fixtures"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_a_cfdi_33_with_its_one_relation_group() -> None:
    facts = parse(fixture("cfdi33_ingreso.xml"))
    assert facts == CfdiFacts(
        version="3.3", uuid="9A1B2C3D-4E5F-4A6B-8C7D-0E1F2A3B4C5D", serie="A", folio="00451",
        issuer_rfc="EKU9003173C9", issuer_name="ESCUELA KEMPER URGATE",
        receiver_rfc="H&E951128469", receiver_name="HERRERIA & ELECTRICOS <norte>",
        total="14500.00", currency="MXN", exchange_rate="1",
        issued_at=datetime(2021, 11, 3, 12, 44, 9), type=CfdiType.INGRESO, payment_method="PUE",
        related=(RelatedCfdi(relation="04", uuid="6F3E2D1C-0B9A-4876-A5B4-C3D2E1F0A9B8"),))


def test_a_cfdi_40_credit_note_in_dollars_with_two_relation_groups() -> None:
    facts = parse(fixture("cfdi40_egreso.xml"))
    assert (facts.version, facts.type, facts.currency, facts.total, facts.exchange_rate) == (
        "4.0", CfdiType.EGRESO, "USD", "1000.000000", "17.0500")
    assert facts.amount == 1000
    assert facts.related == (
        RelatedCfdi(relation=Relation.CREDIT_NOTE, uuid="11111111-2222-4333-8444-555555555555"),
        RelatedCfdi(relation=Relation.CREDIT_NOTE, uuid="66666666-7777-4888-9999-AAAAAAAAAAAA"),
        RelatedCfdi(relation=Relation.RETURN, uuid="BBBBBBBB-CCCC-4DDD-8EEE-FFFFFFFFFFFF"))


def test_a_cfdi_40_payment_complement() -> None:
    facts = parse(fixture("cfdi40_pago.xml"))
    assert (facts.type, facts.total, facts.currency, facts.payment_method, facts.related) == (
        CfdiType.PAGO, "0", "XXX", None, ())
    assert facts.uuid == "0D62B12C-BC6C-4626-A211-FC8FE727A5BC"


def test_the_sandbox_invoices_read_back_as_the_facts_they_were_made_from() -> None:
    for code in ("000", "204", "A11", "202"):
        facts = invent(uuid_with(code, 3))
        assert parse(cfdi_xml(facts)) == facts


# -- any facts, either version -------------------------------------------------------------

_NAME = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
                              blacklist_characters="\ufffe\uffff"),
                min_size=1, max_size=80).map(str.strip).filter(bool)
_UUID = st.uuids().map(lambda u: str(u).upper())
_RFC = st.from_regex(r"\A[A-ZÑ&]{3,4}[0-9]{6}[A-Z0-9]{3}\Z")


@st.composite
def any_facts(draw: st.DrawFn) -> CfdiFacts:
    version = draw(st.sampled_from(["3.3", "4.0"]))
    relations = st.sampled_from([r.value for r in Relation])
    if version == "3.3":  # one CfdiRelacionados: one relation type for all
        relation = draw(relations)
        related = [RelatedCfdi(relation=relation, uuid=u)
                   for u in draw(st.lists(_UUID, max_size=3))]
    else:  # one group per relation type, in the order they come
        groups = draw(st.dictionaries(relations, st.lists(_UUID, min_size=1, max_size=2),
                                      max_size=3))
        related = [RelatedCfdi(relation=r, uuid=u) for r, us in groups.items() for u in us]
    whole = draw(st.integers(0, 10**12))
    decimals = draw(st.sampled_from(["", ".0", ".50", ".123456"]))
    return CfdiFacts(
        version=version, uuid=draw(_UUID),
        serie=draw(st.none() | st.from_regex(r"\A[A-Za-z0-9]{1,25}\Z")),
        folio=draw(st.none() | st.from_regex(r"\A[A-Za-z0-9]{1,40}\Z")),
        issuer_rfc=draw(_RFC), issuer_name=draw(st.none() | _NAME),
        receiver_rfc=draw(_RFC), receiver_name=draw(st.none() | _NAME),
        total=f"{whole}{decimals}", currency=draw(st.sampled_from(["MXN", "USD", "XXX"])),
        issued_at=draw(st.datetimes(datetime(2017, 1, 1), datetime(2030, 12, 31))).replace(
            microsecond=0),
        type=draw(st.sampled_from(list(CfdiType))),
        payment_method=draw(st.none() | st.sampled_from(["PUE", "PPD"])),
        related=tuple(related))


def write(facts: CfdiFacts) -> bytes:
    """A stamped CFDI of `facts`' version, as an issuer's software writes one."""
    ns = NAMESPACES[facts.version]
    root = etree.Element(f"{{{ns}}}Comprobante", nsmap={"cfdi": ns, "tfd": TFD, "xsi": XSI})
    attrs = {"Version": facts.version, "Serie": facts.serie, "Folio": facts.folio,
             "Fecha": facts.issued_at.isoformat(), "Total": facts.total,
             "Moneda": facts.currency, "TipoDeComprobante": facts.type.value,
             "MetodoPago": facts.payment_method, "SubTotal": facts.total}
    for name, value in attrs.items():
        if value is not None:
            root.set(name, value)
    groups: dict[str, etree._Element] = {}
    for related in facts.related:
        if related.relation not in groups:
            groups[related.relation] = etree.SubElement(root, f"{{{ns}}}CfdiRelacionados",
                                                        TipoRelacion=related.relation)
        etree.SubElement(groups[related.relation], f"{{{ns}}}CfdiRelacionado",
                         UUID=related.uuid.lower())
    for tag, rfc, name in (("Emisor", facts.issuer_rfc, facts.issuer_name),
                           ("Receptor", facts.receiver_rfc, facts.receiver_name)):
        node = etree.SubElement(root, f"{{{ns}}}{tag}", Rfc=rfc)
        if name is not None:
            node.set("Nombre", name)
    etree.SubElement(etree.SubElement(root, f"{{{ns}}}Complemento"),
                     f"{{{TFD}}}TimbreFiscalDigital", Version="1.1", UUID=facts.uuid.lower())
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(any_facts())
def test_what_is_written_is_read_back(facts: CfdiFacts) -> None:
    assert parse(write(facts)) == facts


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_any_bytes_are_facts_or_a_typed_refusal(data: bytes) -> None:
    try:
        parse(data)
    except CfdiError as refused:
        assert refused.kind in {"not_xml", "not_cfdi", "version", "not_stamped", "missing",
                                "invalid", "too_large"}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(any_facts(), st.data())
def test_a_damaged_cfdi_is_refused_with_a_reason_never_a_crash(facts: CfdiFacts,
                                                               data: st.DataObject) -> None:
    xml = write(facts)
    cut = data.draw(st.integers(0, len(xml) - 1))
    damaged = data.draw(st.sampled_from([
        xml[:cut],                                             # truncated
        xml[:cut] + b"\x00" + xml[cut:],                       # a NUL inside
        xml.replace(b'Rfc="', b'Rfc="?', 1),                    # a broken RFC
        xml.replace(b"TimbreFiscalDigital", b"Timbre"),          # never stamped
        xml.replace(f'Version="{facts.version}"'.encode(), b'Version="3.2"', 1),
    ]))
    with pytest.raises(CfdiError):
        parse(damaged)


# -- hostile files ---------------------------------------------------------------------------

def with_doctype(doctype: str, content: str) -> bytes:
    """The 4.0 fixture behind a DOCTYPE, with `content` as the text of an Addenda."""
    xml = fixture("cfdi40_egreso.xml").decode()
    xml = xml.replace('<?xml version="1.0" encoding="UTF-8"?>\n', doctype)
    return xml.replace("</cfdi:Comprobante>",
                       f"<cfdi:Addenda>{content}</cfdi:Addenda></cfdi:Comprobante>").encode()


def test_an_external_entity_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    xml = with_doctype(f'<!DOCTYPE cfdi:Comprobante [<!ENTITY s SYSTEM "file://{secret}">]>',
                       "&s;")
    with pytest.raises(CfdiError) as refused:
        parse(xml)
    assert refused.value.kind == "not_cfdi"
    # Refused for the DTD, and even before that the parser left the entity unexpanded.
    assert b"TOP-SECRET" not in etree.tostring(etree.fromstring(xml, cfdi._PARSER))


def test_nested_entities_are_refused_without_expanding_them() -> None:
    entities = '<!ENTITY a0 "ha">' + "".join(
        f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    xml = with_doctype(f"<!DOCTYPE cfdi:Comprobante [{entities}]>", "&a9;")
    with pytest.raises(CfdiError):  # 10^9 copies if expanded
        parse(xml)


def test_no_dtd_is_fetched_from_the_network() -> None:
    fetched: list[str] = []

    class Handler(QuietHandler):
        """Serves a DTD and records that it was fetched (the parser must never fetch it)."""
        def do_GET(self) -> None:
            fetched.append(self.path)
            self.reply(200, "application/xml-dtd", b'<!ENTITY s "from the network">')

    with BackgroundServer(Handler, "127.0.0.1", 0) as server:
        xml = with_doctype(f'<!DOCTYPE cfdi:Comprobante SYSTEM "{server.base_url}/x.dtd">',
                           "ok")
        with pytest.raises(CfdiError):
            parse(xml)
        threading.Event().wait(0.05)
    assert fetched == []


def test_a_file_larger_than_an_invoice_is_not_read() -> None:
    big = fixture("cfdi40_egreso.xml").replace(b"<cfdi:Conceptos>",
                                               b"<!--" + b"x" * MAX_CFDI_BYTES + b"-->"
                                               b"<cfdi:Conceptos>")
    with pytest.raises(CfdiError) as refused:
        parse(big)
    assert refused.value.kind == "too_large"


@pytest.mark.parametrize(("xml", "kind", "detail"), [
    (b"<factura/>", "not_cfdi", "factura"),
    (b"PK\x03\x04 zip", "not_xml", ""),
    (fixture("cfdi40_egreso.xml").replace(b'TipoDeComprobante="E"', b'TipoDeComprobante="X"'),
     "invalid", "TipoDeComprobante"),
    (fixture("cfdi40_egreso.xml").replace(b'Total="1000.000000"', b'Total="mil"'),
     "invalid", "Total"),
    (fixture("cfdi33_ingreso.xml").replace(b'Moneda="MXN" ', b""), "missing", "Moneda"),
    (fixture("cfdi33_ingreso.xml").replace(b'Version="3.3"', b'Version="4.0"'), "version",
     "4.0"),
])
def test_each_refusal_names_what_is_wrong(xml: bytes, kind: str, detail: str) -> None:
    with pytest.raises(CfdiError) as refused:
        parse(xml)
    assert (refused.value.kind, refused.value.detail) == (kind, detail)

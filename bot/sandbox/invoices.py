"""The sandbox's book of issued invoices: what each test UUID is (receiver, total, type…) and
its CFDI 4.0 XML, as the provider's `descargarXML` answers it and the SAT stand-in knows it.

Facts follow from the UUID (the same UUID always gives the same invoice during a run) and
agree with what the sandbox answers when it is cancelled (pac_rules): an invoice whose
cancellation waits for the receiver is one that needs the receiver's acceptance (an income
invoice above $1,000 to a company); one cancelled at once is exempt (up to $1,000, a credit
note, or a sale to the general public); a "not cancellable" one (code 204) names related
CFDIs. The issuer is the SAT's test taxpayer EKU9003173C9; receivers are the SAT's other
test taxpayers. Tests and the demo may `issue` an invoice with chosen facts.
"""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from lxml import etree

from bot.sandbox import pac_rules as rules
from bot.sat.cfdi import CfdiFacts, CfdiType, RelatedCfdi, Relation

CFDI = "http://www.sat.gob.mx/cfd/4"
TFD = "http://www.sat.gob.mx/TimbreFiscalDigital"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ISSUER = ("EKU9003173C9", "ESCUELA KEMPER URGATE", "601")
PUBLIC = ("XAXX010101000", "PUBLICO EN GENERAL", "616")
# The SAT's test taxpayers (its CSD test certificates), as receivers: RFC, name, regime.
COMPANIES = [
    ("URE180429TM6", "UNIVERSIDAD ROBOTICA ESPAÑOLA", "601"),
    ("XIA190128J61", "XENON INDUSTRIAL ARTICLES", "601"),
    ("IIA040805DZ4", "INDISTRIA ILUMINADORA DE ALMACENES", "601"),
    ("H&E951128469", "HERRERIA & ELECTRICOS", "601"),
    ("CACX7605101P8", "XOCHILT CASAS CHAVEZ", "612"),
    ("FUNK671228PH6", "KARLA FUENTE NOLASCO", "612"),
]
MEXICO = ZoneInfo("America/Mexico_City")
CENT = Decimal("0.01")
# Cancellations of these codes wait for the receiver (pac_rules), so they need acceptance.
NEEDS_ACCEPTANCE = {"211", "213", *rules.RESOLVING} - {"D11"}


def _uuid(rng: random.Random) -> str:
    hex32 = f"{rng.getrandbits(128):032X}"
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return (Decimal(rng.randint(low * 100, high * 100)) / 100).quantize(CENT)


def invent(uuid: str, serie: str | None = None, folio: int | None = None) -> CfdiFacts:
    """The sandbox invoice behind `uuid`, consistent with its cancellation code."""
    rng = random.Random(uuid)
    code = rules.code_of(uuid, None)
    receiver = rng.choice(COMPANIES)
    kind, method, related = CfdiType.INGRESO, "PUE", ()
    if code in NEEDS_ACCEPTANCE:
        total = _money(rng, 5_000, 250_000)
        method = rng.choice(["PUE", "PPD"])
    elif code == "204":
        # Paid in parts, and related to an advance: live related documents keep it alive.
        total, method = _money(rng, 10_000, 150_000), "PPD"
        related = tuple(RelatedCfdi(relation=Relation.ADVANCE, uuid=_uuid(rng))
                        for _ in range(rng.randint(1, 2)))
    else:  # cancelled at once: exempt from the receiver's acceptance
        profile = rng.randrange(3)
        if profile == 0:
            total = _money(rng, 150, 1_000)
        elif profile == 1:
            kind, total = CfdiType.EGRESO, _money(rng, 500, 80_000)
            related = (RelatedCfdi(relation=Relation.CREDIT_NOTE, uuid=_uuid(rng)),)
        else:
            receiver, total = PUBLIC, _money(rng, 2_000, 300_000)
    issued = datetime.now(MEXICO).replace(tzinfo=None, microsecond=0) - timedelta(
        days=rng.randint(5, 50), seconds=rng.randint(0, 36_000))
    return CfdiFacts(
        version="4.0", uuid=uuid.upper(), serie=serie or "F",
        folio=str(folio if folio is not None else rng.randint(1_000, 99_999)),
        issuer_rfc=ISSUER[0], issuer_name=ISSUER[1], receiver_rfc=receiver[0],
        receiver_name=receiver[1], total=str(total), currency="MXN", issued_at=issued,
        type=kind, payment_method=method, related=related)


class SandboxBook:
    """Invoices the sandbox has issued, invented on first sight and then remembered."""

    def __init__(self) -> None:
        self._facts: dict[str, CfdiFacts] = {}
        self._lock = threading.Lock()

    def get(self, uuid: str) -> CfdiFacts:
        with self._lock:
            key = uuid.upper()
            if key not in self._facts:
                self._facts[key] = invent(key)
            return self._facts[key]

    def by_folio(self, serie: str, folio: int) -> CfdiFacts:
        uuid = rules.uuid_for_folio(serie, folio)
        with self._lock:
            if uuid not in self._facts:
                self._facts[uuid] = invent(uuid, serie.upper(), folio)
            return self._facts[uuid]

    def issue(self, facts: CfdiFacts) -> CfdiFacts:
        """Record an invoice with chosen facts (tests, the demo)."""
        with self._lock:
            self._facts[facts.uuid.upper()] = facts
        return facts

    def replace(self, cancelled: str, *, serie: str = "R", folio: int | None = None
                ) -> CfdiFacts:
        """Issue the invoice that replaces `cancelled` (reason 01), as an issuer does before
        cancelling: the same receiver, amount and kind, stamped now, its CfdiRelacionados
        with TipoRelacion 04 naming the cancelled UUID. Found by its UUID, or by serie + folio
        when `folio` is given."""
        old = self.get(cancelled)
        rng = random.Random(f"replaces {old.uuid}")
        number = folio if folio is not None else rng.randint(1_000, 99_999)
        groups = _uuid(rng).split("-")
        groups[3] = "8C21"  # a plain direct cancellation (docs/sandbox.md), never a fault
        uuid = rules.uuid_for_folio(serie, number) if folio is not None else "-".join(groups)
        return self.issue(old.model_copy(update={
            "uuid": uuid, "serie": serie.upper(), "folio": str(number),
            "issued_at": datetime.now(MEXICO).replace(tzinfo=None, microsecond=0),
            "related": (RelatedCfdi(relation=Relation.REPLACEMENT, uuid=old.uuid),)}))


def _regime(rfc: str) -> str:
    return next((r for c, _, r in [ISSUER, PUBLIC, *COMPANIES] if c == rfc), "601")


def cfdi_xml(facts: CfdiFacts) -> bytes:
    """A plausible stamped CFDI 4.0 for `facts` (the seals are not real: a sandbox)."""
    total = Decimal(facts.total)
    subtotal = (total / Decimal("1.16")).quantize(CENT, ROUND_HALF_UP)
    iva = total - subtotal
    kind = facts.type
    taxed = kind in (CfdiType.INGRESO, CfdiType.EGRESO)
    attrs = {
        "Version": "4.0", "Serie": facts.serie or "", "Folio": facts.folio or "",
        "Fecha": facts.issued_at.strftime("%Y-%m-%dT%H:%M:%S"), "Sello": "U0FOREJPWA==",
        "NoCertificado": "30001000000500003416", "Certificado": "U0FOREJPWA==",
        "SubTotal": str(subtotal if taxed else total), "Moneda": facts.currency,
        "TipoCambio": facts.exchange_rate or "",
        "Total": facts.total, "TipoDeComprobante": kind.value, "Exportacion": "01",
        "LugarExpedicion": "42501",
    }
    if taxed:
        attrs |= {"FormaPago": "99" if facts.payment_method == "PPD" else "03",
                  "MetodoPago": facts.payment_method or "PUE"}
    root = etree.Element(f"{{{CFDI}}}Comprobante", nsmap={"cfdi": CFDI, "xsi": XSI, "tfd": TFD})
    root.set(f"{{{XSI}}}schemaLocation",
             f"{CFDI} http://www.sat.gob.mx/sitio_internet/cfd/4/cfdv40.xsd")
    for name, value in attrs.items():
        if value:
            root.set(name, value)
    by_relation: dict[str, list[str]] = {}
    for related in facts.related:
        by_relation.setdefault(related.relation, []).append(related.uuid)
    for relation, uuids in by_relation.items():
        group = etree.SubElement(root, f"{{{CFDI}}}CfdiRelacionados", TipoRelacion=relation)
        for uuid in uuids:
            etree.SubElement(group, f"{{{CFDI}}}CfdiRelacionado", UUID=uuid)
    etree.SubElement(root, f"{{{CFDI}}}Emisor", Rfc=facts.issuer_rfc,
                     Nombre=facts.issuer_name or "", RegimenFiscal=_regime(facts.issuer_rfc))
    public = facts.receiver_rfc == PUBLIC[0]
    etree.SubElement(root, f"{{{CFDI}}}Receptor", Rfc=facts.receiver_rfc,
                     Nombre=facts.receiver_name or "",
                     DomicilioFiscalReceptor="42501" if public else "65000",
                     RegimenFiscalReceptor=_regime(facts.receiver_rfc),
                     UsoCFDI="S01" if public else "G03")
    concepts = etree.SubElement(root, f"{{{CFDI}}}Conceptos")
    concept = etree.SubElement(
        concepts, f"{{{CFDI}}}Concepto", ClaveProdServ="84111506", Cantidad="1",
        ClaveUnidad="E48", Descripcion="Servicios de facturación (sandbox)",
        ValorUnitario=attrs["SubTotal"], Importe=attrs["SubTotal"],
        ObjetoImp="02" if taxed else "01")
    if taxed:
        transfer = dict(Base=str(subtotal), Impuesto="002", TipoFactor="Tasa",
                        TasaOCuota="0.160000", Importe=str(iva))
        taxes = etree.SubElement(etree.SubElement(concept, f"{{{CFDI}}}Impuestos"),
                                 f"{{{CFDI}}}Traslados")
        etree.SubElement(taxes, f"{{{CFDI}}}Traslado", **transfer)
        totals = etree.SubElement(root, f"{{{CFDI}}}Impuestos",
                                  TotalImpuestosTrasladados=str(iva))
        etree.SubElement(etree.SubElement(totals, f"{{{CFDI}}}Traslados"),
                         f"{{{CFDI}}}Traslado", **transfer)
    stamp = etree.SubElement(etree.SubElement(root, f"{{{CFDI}}}Complemento"),
                             f"{{{TFD}}}TimbreFiscalDigital")
    stamped = facts.issued_at + timedelta(seconds=7)
    for name, value in (("Version", "1.1"), ("UUID", facts.uuid),
                        ("FechaTimbrado", stamped.strftime("%Y-%m-%dT%H:%M:%S")),
                        ("RfcProvCertif", "SFE0807172W7"), ("SelloCFD", "U0FOREJPWA=="),
                        ("NoCertificadoSAT", "30001000000500003456"),
                        ("SelloSAT", "U0FOREJPWA==")):
        stamp.set(name, value)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

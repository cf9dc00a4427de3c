"""What an invoice's XML says (CFDI 3.3 and 4.0, Anexo 20): the facts an approver needs.

Only the facts the bot shows or checks are kept: who issued it and for whom, how much, when,
what kind of document it is, how it is paid and which CFDIs it names as related (with the
SAT's relation type). The XML itself is never kept.

`parse` reads what people and the provider hand over, so it refuses safely: at most
MAX_CFDI_BYTES, no DTD, no entity expansion, no network, and one typed error for anything
that is not a stamped CFDI 3.3 or 4.0.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from lxml import etree
from pydantic import BaseModel, ConfigDict

from bot.sat.refs import normalize_uuid

MAX_CFDI_BYTES = 4 * 1024 * 1024  # an invoice's XML; larger is refused unread


class CfdiType(StrEnum):
    """c_TipoDeComprobante."""

    INGRESO = "I"
    EGRESO = "E"
    TRASLADO = "T"
    NOMINA = "N"
    PAGO = "P"


class Relation(StrEnum):
    """c_TipoRelacion (CFDI 4.0; 3.3 used the same codes 01-07)."""

    CREDIT_NOTE = "01"            # nota de crédito de los documentos relacionados
    DEBIT_NOTE = "02"             # nota de débito de los documentos relacionados
    RETURN = "03"                 # devolución de mercancía sobre facturas o traslados previos
    REPLACEMENT = "04"            # sustitución de los CFDI previos
    TRANSFER = "05"               # traslados de mercancías facturados previamente
    INVOICE_OF_TRANSFER = "06"    # factura generada por los traslados previos
    ADVANCE = "07"                # CFDI por aplicación de anticipo
    INSTALLMENTS = "08"           # factura generada por pagos en parcialidades
    DEFERRED = "09"               # factura generada por pagos diferidos


class RelatedCfdi(BaseModel):
    """A CFDI an invoice's XML names as related, with the relation type."""

    model_config = ConfigDict(frozen=True)

    relation: str          # the code as written (a Relation value, or one the SAT adds later)
    uuid: str


class CfdiFacts(BaseModel):
    """What an invoice's XML says: UUID, issuer, receiver, total, currency, date, type."""

    model_config = ConfigDict(frozen=True)

    version: str                    # "3.3" or "4.0"
    uuid: str                       # TimbreFiscalDigital/@UUID, upper case
    serie: str | None = None
    folio: str | None = None        # the issuer's folio: up to 40 characters, not always digits
    issuer_rfc: str
    issuer_name: str | None = None
    receiver_rfc: str
    receiver_name: str | None = None
    total: str                      # as the XML states it (the SAT's status service wants it so)
    currency: str
    exchange_rate: str | None = None    # TipoCambio: MXN per unit of `currency`, as written
    issued_at: datetime             # Fecha: the issuer's local time, no zone
    type: CfdiType
    payment_method: str | None = None   # PUE, PPD
    related: tuple[RelatedCfdi, ...] = ()

    @property
    def amount(self) -> Decimal:
        return Decimal(self.total)


class CfdiError(ValueError):
    """The bytes are not a CFDI the bot can read. `kind` names what is wrong (the catalogues
    have words for each: `cfdi.error.<kind>`), `detail` the attribute or value concerned."""

    def __init__(self, kind: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.kind, self.detail = kind, detail


NAMESPACES = {"3.3": "http://www.sat.gob.mx/cfd/3", "4.0": "http://www.sat.gob.mx/cfd/4"}
TFD = "http://www.sat.gob.mx/TimbreFiscalDigital"
_RFC = re.compile(r"^[A-ZÑ&]{3,4}\d{6}[A-Z0-9]{3}$")
_TOTAL = re.compile(r"^\d{1,18}(\.\d{1,6})?$")
# No DTD is loaded, no entity is expanded, nothing is fetched, no tree beyond lxml's limits.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          huge_tree=False, remove_comments=True, remove_pis=True)


def parse(xml: bytes) -> CfdiFacts:
    """The facts of a stamped CFDI 3.3 or 4.0; CfdiError for anything else."""
    if len(xml) > MAX_CFDI_BYTES:
        raise CfdiError("too_large", f"larger than {MAX_CFDI_BYTES // (1024 * 1024)} MB")
    try:
        root = etree.fromstring(xml, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        raise CfdiError("not_xml", "not well-formed XML") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise CfdiError("not_cfdi", "a document type declaration: a CFDI has none")
    name = etree.QName(root)
    version = next((v for v, ns in NAMESPACES.items() if ns == name.namespace), None)
    if name.localname != "Comprobante" or version is None:
        raise CfdiError("not_cfdi", f"its root is {name.localname}, not a CFDI Comprobante",
                        name.localname)
    if root.get("Version") != version:
        raise CfdiError("version", f"version {root.get('Version') or root.get('version')!r} "
                        f"in the namespace of CFDI {version}", root.get("Version") or "")
    ns = {"c": NAMESPACES[version], "tfd": TFD}
    stamp = root.find("c:Complemento//tfd:TimbreFiscalDigital", ns)
    if stamp is None:
        raise CfdiError("not_stamped", "no TimbreFiscalDigital: the invoice was never stamped")
    issuer, receiver = root.find("c:Emisor", ns), root.find("c:Receptor", ns)
    if issuer is None or receiver is None:
        raise CfdiError("missing", "no Emisor or Receptor", "Emisor/Receptor")
    return CfdiFacts(
        version=version,
        uuid=_uuid(stamp.get("UUID"), "UUID"),
        serie=_text(root.get("Serie")), folio=_text(root.get("Folio")),
        issuer_rfc=_rfc(issuer.get("Rfc"), "Emisor Rfc"), issuer_name=_text(issuer.get("Nombre")),
        receiver_rfc=_rfc(receiver.get("Rfc"), "Receptor Rfc"),
        receiver_name=_text(receiver.get("Nombre")),
        total=_total(root.get("Total")), currency=_required(root.get("Moneda"), "Moneda"),
        exchange_rate=_text(root.get("TipoCambio")),
        issued_at=_date(root.get("Fecha")), type=_type(root.get("TipoDeComprobante")),
        payment_method=_text(root.get("MetodoPago")),
        related=tuple(
            RelatedCfdi(relation=_required(group.get("TipoRelacion"), "TipoRelacion"),
                        uuid=_uuid(node.get("UUID"), "CfdiRelacionado UUID"))
            for group in root.findall("c:CfdiRelacionados", ns)
            for node in group.findall("c:CfdiRelacionado", ns)))


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _required(value: str | None, field: str) -> str:
    text = _text(value)
    if text is None:
        raise CfdiError("missing", f"no {field}", field)
    return text


def _uuid(value: str | None, field: str) -> str:
    uuid = normalize_uuid(_required(value, field))
    if uuid is None:
        raise CfdiError("invalid", f"{field} is not a UUID", field)
    return uuid


def _rfc(value: str | None, field: str) -> str:
    rfc = _required(value, field).upper()
    if not _RFC.match(rfc):
        raise CfdiError("invalid", f"{field} is not an RFC", field)
    return rfc


def _total(value: str | None) -> str:
    total = _required(value, "Total")
    if not _TOTAL.match(total):
        raise CfdiError("invalid", "Total is not an amount", "Total")
    return total


def _date(value: str | None) -> datetime:
    try:
        return datetime.strptime(_required(value, "Fecha"), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise CfdiError("invalid", "Fecha is not a date and time", "Fecha") from None


def _type(value: str | None) -> CfdiType:
    try:
        return CfdiType(_required(value, "TipoDeComprobante"))
    except ValueError:
        raise CfdiError("invalid", "TipoDeComprobante is not I, E, P, N or T",
                        "TipoDeComprobante") from None

"""What an invoice's XML says (CFDI 3.3 and 4.0, Anexo 20): the facts an approver needs.

Only the facts the bot shows or checks are kept: who issued it and for whom, how much, when,
what kind of document it is, how it is paid and which CFDIs it names as related (with the
SAT's relation type). The XML itself is never kept.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

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
    model_config = ConfigDict(frozen=True)

    relation: str          # the code as written (a Relation value, or one the SAT adds later)
    uuid: str


class CfdiFacts(BaseModel):
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
    issued_at: datetime             # Fecha: the issuer's local time, no zone
    type: CfdiType
    payment_method: str | None = None   # PUE, PPD
    related: tuple[RelatedCfdi, ...] = ()

    @property
    def amount(self) -> Decimal:
        return Decimal(self.total)

"""What the SAT's public status service (ConsultaCFDIService.Consulta) says about an invoice,
and the printed expression it is asked with.

The service answers five strings; their meaning (phpcfdi/sat-estado-cfdi's reading):
- CodigoEstatus: "S - Comprobante obtenido satisfactoriamente." when found; "N - 601: …"
  (the expression is not valid) or "N - 602: Comprobante no encontrado." otherwise;
- Estado: Vigente, Cancelado, No Encontrado;
- EsCancelable: Cancelable sin aceptación, Cancelable con aceptación, No cancelable;
- EstatusCancelacion: empty (no request), En proceso (the receiver has not answered),
  Plazo vencido (cancelled by the receiver's silence), Solicitud rechazada, Cancelado con
  aceptación, Cancelado sin aceptación;
- ValidacionEFOS: "200" when the issuer is not on the SAT's list of invoice mills (69-B);
  anything else means it is.
Values are compared without accents or case: the words are the SAT's, and its spelling of
accents has varied.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Estado(StrEnum):
    """The SAT's Estado of an invoice: valid, cancelled, or not found."""

    VIGENTE = "vigente"
    CANCELADO = "cancelado"
    NO_ENCONTRADO = "no_encontrado"


class Cancelable(StrEnum):
    """Whether the SAT says an invoice can be cancelled, and how."""

    WITHOUT_ACCEPTANCE = "sin_aceptacion"
    WITH_ACCEPTANCE = "con_aceptacion"
    NOT_CANCELABLE = "no_cancelable"


class Cancelacion(StrEnum):
    """The SAT's EstatusCancelacion: where a cancellation stands."""

    NONE = "none"
    IN_PROCESS = "en_proceso"
    EXPIRED = "plazo_vencido"              # cancelled: the receiver let the 3 days pass
    REJECTED = "solicitud_rechazada"
    ACCEPTED = "cancelado_con_aceptacion"
    DIRECT = "cancelado_sin_aceptacion"


def _plain(text: str | None) -> str:
    decomposed = unicodedata.normalize("NFKD", (text or "").strip().lower())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


_ESTADO = {"vigente": Estado.VIGENTE, "cancelado": Estado.CANCELADO}
_CANCELABLE = {"cancelable sin aceptacion": Cancelable.WITHOUT_ACCEPTANCE,
               "cancelable con aceptacion": Cancelable.WITH_ACCEPTANCE}
_CANCELACION = {"en proceso": Cancelacion.IN_PROCESS, "plazo vencido": Cancelacion.EXPIRED,
                "solicitud rechazada": Cancelacion.REJECTED,
                "cancelado con aceptacion": Cancelacion.ACCEPTED,
                "cancelado sin aceptacion": Cancelacion.DIRECT}


class SatStatus(BaseModel):
    """One answer of the SAT, with its own words kept (they go to the audit log as given)."""

    model_config = ConfigDict(frozen=True)

    codigo_estatus: str | None = None
    estado: str | None = None
    es_cancelable: str | None = None
    estatus_cancelacion: str | None = None
    validacion_efos: str | None = None

    @property
    def found(self) -> bool:
        return (self.codigo_estatus or "").strip().upper().startswith("S")

    @property
    def state(self) -> Estado:
        return _ESTADO.get(_plain(self.estado), Estado.NO_ENCONTRADO) if self.found \
            else Estado.NO_ENCONTRADO

    @property
    def cancelable(self) -> Cancelable:
        return _CANCELABLE.get(_plain(self.es_cancelable), Cancelable.NOT_CANCELABLE)

    @property
    def cancelacion(self) -> Cancelacion:
        return _CANCELACION.get(_plain(self.estatus_cancelacion), Cancelacion.NONE)

    @property
    def efos_listed(self) -> bool:
        """The issuer is on the SAT's list of invoice mills (the answer says so)."""
        return self.validacion_efos is not None and self.validacion_efos.strip() not in (
            "", "200")


def expression(issuer_rfc: str, receiver_rfc: str, total: str | Decimal, uuid: str) -> str:
    """The printed invoice's expression the service is asked with:
    `?re=ISSUER&rr=RECEIVER&tt=TOTAL&id=UUID`, the total as the invoice states it. An `&` in
    an RFC (`H&E951128469`) is written `&amp;` so that it does not end the field, as the
    printed-code libraries write it (phpcfdi/cfdi-expresiones, Odoo). Escaping the whole
    expression for XML is the SOAP layer's job."""
    re_, rr = (rfc.replace("&", "&amp;") for rfc in (issuer_rfc, receiver_rfc))
    return f"?re={re_}&rr={rr}&tt={total}&id={uuid}"

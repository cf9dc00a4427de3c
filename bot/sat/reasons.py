"""The SAT's cancellation reasons since 2022, with the SAT's official wording."""

from __future__ import annotations

from enum import StrEnum


class CancelReason(StrEnum):
    """The SAT's reasons to cancel an invoice (01-04)."""

    WITH_RELATION = "01"
    WITHOUT_RELATION = "02"
    NOT_CARRIED_OUT = "03"
    GLOBAL_INVOICE = "04"

    @property
    def description(self) -> str:
        return _REASON_TEXT[self]

    @property
    def needs_replacement(self) -> bool:
        """Reason 01: the replacing invoice (related with type 04) must be named."""
        return self is CancelReason.WITH_RELATION


_REASON_TEXT = {
    CancelReason.WITH_RELATION: "Comprobante emitido con errores con relación",
    CancelReason.WITHOUT_RELATION: "Comprobante emitido con errores sin relación",
    CancelReason.NOT_CARRIED_OUT: "No se llevó a cabo la operación",
    CancelReason.GLOBAL_INVOICE: "Operación nominativa relacionada en una factura global",
}

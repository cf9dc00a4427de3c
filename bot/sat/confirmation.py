"""What the SAT's status service says of a cancellation the provider reported.

The provider's "cancelled" (its 202, or a 201 later resolved) is the provider's word; the
invoice is cancelled when the SAT's own status service shows Estado "Cancelado". Its
EstatusCancelacion tells how: without acceptance, accepted by the receiver, or by the
receiver's silence (plazo vencido); "Solicitud rechazada" with Estado Vigente is the
receiver's refusal; "En proceso", or Vigente with nothing, is not yet.
"""

from __future__ import annotations

from enum import StrEnum

from bot.sat.status import Cancelacion, Estado, SatStatus


class Verdict(StrEnum):
    """What the SAT's answer means for a cancellation the provider reported."""

    CONFIRMED = "confirmed"      # Estado Cancelado
    REFUSED = "refused"          # Vigente, Solicitud rechazada: the receiver said no
    NOT_YET = "not_yet"          # Vigente (en proceso, or nothing yet), or not found yet
    UNANSWERED = "unanswered"    # no answer (the SAT down, or no facts to ask it with)


def verdict(sat: SatStatus | None) -> Verdict:
    if sat is None:
        return Verdict.UNANSWERED
    if sat.state is Estado.CANCELADO:
        return Verdict.CONFIRMED
    if sat.state is Estado.VIGENTE and sat.cancelacion is Cancelacion.REJECTED:
        return Verdict.REFUSED
    return Verdict.NOT_YET


def cancelled(sat: SatStatus | None) -> bool:
    """The SAT shows the invoice cancelled (by anyone)."""
    return sat is not None and sat.state is Estado.CANCELADO

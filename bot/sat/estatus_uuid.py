"""The SAT's per-invoice `EstatusUUID` (Anexo 20, CFDI 4.0 cancellation) and what each means."""

from __future__ import annotations

from bot.sat.outcomes import Outcome

SAT_UUID: dict[int, Outcome] = {
    201: Outcome.CANCELED,        # request received
    202: Outcome.ALREADY_CANCELED,
    203: Outcome.FAILED,          # not found, or not this issuer's
    204: Outcome.NOT_CANCELABLE,
    205: Outcome.FAILED,          # does not exist
}

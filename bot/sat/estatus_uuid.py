"""The SAT's per-invoice `EstatusUUID` (Anexo 20, CFDI 4.0 cancellation) and what each means.

Since 2022, 201 only says the SAT received the request: asking again tells whether it went
through at once (202, previously cancelled) or waits for the receiver. It is never read as
"cancelled".
"""

from __future__ import annotations

from bot.sat.outcomes import Outcome

SAT_UUID: dict[int, Outcome] = {
    201: Outcome.PENDING,         # request received: confirmed by a later ask
    202: Outcome.ALREADY_CANCELED,
    203: Outcome.FAILED,          # not found, or not this issuer's
    204: Outcome.NOT_CANCELABLE,
    205: Outcome.FAILED,          # does not exist
    206: Outcome.FAILED,          # not a primary-sector CFDI
}
RECEIVED = 201

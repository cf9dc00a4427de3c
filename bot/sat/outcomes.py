"""What asking to cancel (or send) one invoice came to, and what the SAT's wording adds."""

from __future__ import annotations

import re
from enum import StrEnum


class Outcome(StrEnum):
    """One invoice's classified answer; each value is also an invoice state (storage.states)."""

    CANCELED = "canceled"
    ALREADY_CANCELED = "already_canceled"
    PENDING = "pending"
    DENIED = "denied"
    NOT_CANCELABLE = "not_cancelable"
    FAILED = "failed"
    SENT = "sent"
    UNKNOWN = "unknown"   # nobody can tell (unnamed in the answer, a send interrupted): check


class Nuance(StrEnum):
    """What the SAT's wording adds to an outcome (watchers and people need the difference)."""

    ACCEPTED_BY_RECEIVER = "accepted_by_receiver"
    ACCEPTED_BY_SILENCE = "accepted_by_silence"
    WITHOUT_ACCEPTANCE = "without_acceptance"
    AWAITING_RECEIVER = "awaiting_receiver"
    NOT_DELIVERED = "not_delivered"
    IN_PROCESS = "in_process"
    RECEIVED = "received"            # EstatusUUID 201: the SAT took the request; confirming
    UNNAMED = "unnamed"              # the answer did not name this invoice: asked again


# SAT wording in `detalle`/`mensaje`, Spanish and English, lower-cased, accents optional.
_NUANCES: list[tuple[re.Pattern[str], Nuance]] = [
    (re.compile(r"plazo vencido|accepted by silence|deadline expired"), Nuance.ACCEPTED_BY_SILENCE),
    (re.compile(r"con aceptaci[oó]n|accepted by the receiver"), Nuance.ACCEPTED_BY_RECEIVER),
    (re.compile(r"sin aceptaci[oó]n|without acceptance"), Nuance.WITHOUT_ACCEPTANCE),
    (re.compile(r"no (ha sido )?entregado|a[uú]n no entregado|not yet delivered"),
     Nuance.NOT_DELIVERED),
    (re.compile(r"autorizaci[oó]n|aceptaci[oó]n del receptor"
                r"|receiver'?s? (authorization|acceptance)"),
     Nuance.AWAITING_RECEIVER),
    (re.compile(r"en proceso|in process"), Nuance.IN_PROCESS),
    (re.compile(r"solicitud de cancelaci[oó]n recibida|cancellation request received"),
     Nuance.RECEIVED),
]
_FITS = {
    Outcome.CANCELED: {Nuance.ACCEPTED_BY_RECEIVER, Nuance.ACCEPTED_BY_SILENCE,
                       Nuance.WITHOUT_ACCEPTANCE},
    Outcome.PENDING: {Nuance.AWAITING_RECEIVER, Nuance.NOT_DELIVERED, Nuance.IN_PROCESS,
                      Nuance.RECEIVED},
}


def nuance_of(text: str | None, outcome: Outcome) -> Nuance | None:
    """Read the SAT's wording for what it adds; only nuances that fit the outcome count."""
    if not text:
        return None
    lowered = text.lower()
    for pattern, nuance in _NUANCES:
        if pattern.search(lowered):
            return nuance if nuance in _FITS.get(outcome, set()) else None
    return None

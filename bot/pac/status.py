"""Every code the provider can answer, its class, and how one invoice's answer is classified.

Three code spaces overlap in numbers, so they are kept apart:
- operation codes (`status` of any method: 200, 500-503, 601-633),
- cancellation codes (per invoice `estatus`, or `status` of a one-invoice call: 201-213),
- the SAT's `EstatusUUID` (201-205), whose 201/202/204 mean other things than above.
The words a finance user reads for each code live in the catalogues (`pac.op.*`,
`pac.cancel.*`, `pac.sat.*`); this module holds only the classification.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class StatusClass(StrEnum):
    SUCCESS = "success"
    PENDING = "pending"
    FINAL = "final_failure"
    RETRY = "retry"
    CREDENTIALS = "credentials"
    CONFIGURATION = "configuration"


class Outcome(StrEnum):
    """One invoice's classified answer; the values are the invoice states of DESIGN.md."""

    CANCELED = "canceled"
    ALREADY_CANCELED = "already_canceled"
    PENDING = "pending"
    DENIED = "denied"
    NOT_CANCELABLE = "not_cancelable"
    FAILED = "failed"
    SENT = "sent"


class Nuance(StrEnum):
    """What the SAT's wording adds to an outcome (watchers and people need the difference)."""

    ACCEPTED_BY_RECEIVER = "accepted_by_receiver"
    ACCEPTED_BY_SILENCE = "accepted_by_silence"
    WITHOUT_ACCEPTANCE = "without_acceptance"
    AWAITING_RECEIVER = "awaiting_receiver"
    NOT_DELIVERED = "not_delivered"
    IN_PROCESS = "in_process"


_S, _P, _F, _R, _C, _K = (StatusClass.SUCCESS, StatusClass.PENDING, StatusClass.FINAL,
                          StatusClass.RETRY, StatusClass.CREDENTIALS, StatusClass.CONFIGURATION)

# Operation codes common to all methods (both seed pages).
OPERATION: dict[int, StatusClass] = {
    200: _S,
    500: _R, 501: _R, 502: _R, 503: _R,
    601: _C, 602: _C, 603: _C, 604: _C,
    610: _K, 611: _F, 612: _F, 613: _K,
    620: _K, 621: _F, 622: _K, 623: _F, 624: _F, 625: _F, 626: _K,
    630: _K, 631: _K, 632: _K, 633: _K,
}

# The 3.3 cancellation's additional codes, with the outcome each one means.
CANCELLATION: dict[int, Outcome] = {
    200: Outcome.CANCELED,
    201: Outcome.FAILED,          # the SAT answered with an error code, e.g. 205
    202: Outcome.ALREADY_CANCELED,
    204: Outcome.NOT_CANCELABLE,
    211: Outcome.PENDING,
    213: Outcome.DENIED,
}

# The SAT's per-invoice EstatusUUID.
SAT_UUID: dict[int, Outcome] = {
    201: Outcome.CANCELED,        # request received
    202: Outcome.ALREADY_CANCELED,
    203: Outcome.FAILED,          # not found, or not this issuer's
    204: Outcome.NOT_CANCELABLE,
    205: Outcome.FAILED,          # does not exist
}

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
]


def operation_class(code: int) -> StatusClass | None:
    """The class of an operation code, None when the provider answered a code we do not know."""
    return OPERATION.get(code)


def _as_int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def nuance_of(text: str | None, outcome: Outcome) -> Nuance | None:
    """Read the SAT's wording for what it adds; only nuances that fit the outcome count."""
    if not text:
        return None
    lowered = text.lower()
    for pattern, nuance in _NUANCES:
        if pattern.search(lowered):
            fits = {
                Outcome.CANCELED: {Nuance.ACCEPTED_BY_RECEIVER, Nuance.ACCEPTED_BY_SILENCE,
                                   Nuance.WITHOUT_ACCEPTANCE},
                Outcome.PENDING: {Nuance.AWAITING_RECEIVER, Nuance.NOT_DELIVERED,
                                  Nuance.IN_PROCESS},
            }.get(outcome, set())
            return nuance if nuance in fits else None
    return None


@dataclass(frozen=True)
class Classified:
    outcome: Outcome
    code: str              # the code the outcome was read from, e.g. "211" or "sat:205"
    nuance: Nuance | None


def classify_invoice(
    estatus: object, estatus_uuid: object, detalle: str | None, operation_status: int
) -> Classified:
    """One invoice's outcome, read in this order of precedence:

    1. its own cancellation code (`estatus`), as the seed's per-invoice examples show it;
    2. the SAT's EstatusUUID;
    3. the operation status, as a one-invoice call reports it.
    A code outside the catalogue is FAILED with the code kept, never silently unknown.
    """
    own = _as_int(estatus)
    sat = _as_int(estatus_uuid)
    if own is not None:
        outcome = CANCELLATION.get(own, Outcome.FAILED)
        if outcome is Outcome.CANCELED and sat == 202:
            outcome = Outcome.ALREADY_CANCELED
        code = str(own)
    elif sat is not None:
        outcome = SAT_UUID.get(sat, Outcome.FAILED)
        code = f"sat:{sat}"
    else:
        outcome = CANCELLATION.get(operation_status, Outcome.FAILED)
        code = str(operation_status)
    return Classified(outcome, code, nuance_of(detalle, outcome))

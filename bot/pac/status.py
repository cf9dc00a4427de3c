"""Every code Solución Factible can answer, its class, and how one invoice's answer is
classified.

Three code spaces overlap in numbers, so they are kept apart:
- operation codes (`status` of any method: 200, 500-503, 601-633),
- cancellation codes (per invoice `estatus`, or `status` of a one-invoice call: 201-213),
- the SAT's `EstatusUUID` (201-205, in bot.sat), whose 201/202/204 mean other things.
The words a finance user reads for each code live in the catalogues (`pac.op.*`,
`pac.cancel.*`, `pac.sat.*`); this module holds only the classification.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.provider import StatusClass
from bot.sat.estatus_uuid import SAT_UUID
from bot.sat.outcomes import Nuance, Outcome, nuance_of

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

def operation_class(code: int) -> StatusClass | None:
    """The class of an operation code, None when the provider answered a code we do not know."""
    return OPERATION.get(code)


def _as_int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
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

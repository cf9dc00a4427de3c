"""Every code Solución Factible can answer, its class, and how one invoice's answer is
classified.

Three code spaces overlap in numbers, so they are kept apart:
- operation codes (`status` of any method: 200, 500-503, 601-633),
- cancellation codes (per invoice `estatus`, or `status` of a one-invoice call: 201-213),
- the SAT's `EstatusUUID` (201-205, in bot.sat), whose 201/202/204 mean other things.
The words a finance user reads for each code are in words.py (`solucion_factible.code.*`)
and, for the SAT's, in the catalogues (`sat.estatus_uuid.*`); this module holds only the
classification.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.providers.contract import StatusClass
from bot.sat.estatus_uuid import RECEIVED, SAT_UUID
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

# The cancellation's own codes (operation `estatus` of a one-invoice call, or an invoice's
# own code where a WSDL has one), with the outcome each one means. 201 says "the SAT
# answered": the SAT's EstatusUUID then tells (bot.sat.estatus_uuid).
CANCELLATION: dict[int, Outcome] = {
    200: Outcome.CANCELED,
    201: Outcome.FAILED,          # the SAT answered, and no EstatusUUID says what
    202: Outcome.ALREADY_CANCELED,
    204: Outcome.NOT_CANCELABLE,
    211: Outcome.PENDING,
    213: Outcome.DENIED,
}
SAT_ANSWERED = 201


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
    """One invoice's answer classified: outcome, nuance and the class of its code."""

    outcome: Outcome
    code: str              # the code the outcome was read from, e.g. "211" or "sat:205"
    nuance: Nuance | None


def classify_invoice(estatus: object, estatus_uuid: object, detalle: str | None,
                     operation_status: int, *, alone: bool) -> Classified:
    """One invoice's outcome, read in this order of precedence:

    1. its own provider code, where the loaded WSDL has one (201 defers to the SAT's word);
    2. for a one-invoice call (`alone`), the operation's code, unless it is 201;
    3. the SAT's EstatusUUID, where 201 (received) is pending until a later ask confirms it;
    4. for a one-invoice call without either, the operation's code.
    A code outside the catalogue is FAILED with the code kept, never silently unknown.
    """
    own = _as_int(estatus)
    sat = _as_int(estatus_uuid)
    if own is None and alone and operation_status != SAT_ANSWERED:
        own = operation_status
    if own is not None and own != SAT_ANSWERED and not (own == 200 and sat is not None):
        outcome, code = CANCELLATION.get(own, Outcome.FAILED), str(own)
    elif sat is not None:
        outcome, code = SAT_UUID.get(sat, Outcome.FAILED), f"sat:{sat}"
    else:
        outcome, code = CANCELLATION.get(own or operation_status, Outcome.FAILED), \
            str(own or operation_status)
    received = code == f"sat:{RECEIVED}"
    nuance = Nuance.RECEIVED if received else nuance_of(detalle, outcome)
    return Classified(outcome, code, nuance)

"""What the sandbox provider answers for each invoice: the documented test conventions.

A direct cancellation answers as the SAT does since 2022: "received" (EstatusUUID 201) the
first time, "previously cancelled" (202) when asked again.

The last three characters of a UUID's fourth group pick the answer, as on the provider's
test environment (the seed's `…-A204-…` gives 204, `…-A211-…` gives 211). An invoice named
by serie + folio behaves like the code formed by the folio's last three digits. The table
"Sandbox conventions" in docs/sandbox.md lists every code; keep the two in step.
"""

from __future__ import annotations

import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from enum import StrEnum

from bot.providers.contract import StatusClass
from bot.providers.solucion_factible.codes import OPERATION

_FOLIO_NAMESPACE = uuidlib.UUID("6f1c2a54-4b8e-4f7e-9d2a-0c5e3b1a7d10")


class Fault(StrEnum):
    """Broken answers, for rehearsing how the bot survives them."""

    SOAP_FAULT = "9F0"
    HTML_500 = "9F1"
    TRUNCATED = "9F2"
    WRONG_NAMESPACE = "9F3"


SLOW = "900"
TRANSIENT = {"500", "501", "502", "503"}


@dataclass(frozen=True)
class Answer:
    """One invoice's answer: the code a one-invoice call answers (operation `estatus`), the
    SAT's EstatusUUID that a result carries, and the wording."""

    code: int
    estatus_uuid: str
    detalle: str
    reached_sat: bool = True


# Direct cancellations: the SAT first says "received" (201); asked again, "previously
# cancelled" (202), as since 2022. A one-invoice call answers 201 with the result.
RECEIVED = Answer(201, "201", "Solicitud de cancelación recibida")
CANCELED = Answer(202, "202", "Cancelado sin aceptación")
CANCELED_ACCEPTED = Answer(202, "202", "Cancelado con aceptación")
CANCELED_BY_SILENCE = Answer(202, "202", "Plazo vencido")
ALREADY = Answer(202, "202", "El comprobante ya había sido cancelado previamente")
NOT_CANCELABLE = Answer(204, "204", "El comprobante no se puede cancelar")
SAT_ERROR = Answer(201, "205", "No se pudo cancelar el comprobante. "
                   "El SAT respondió con código de error: [205]")
# Provider-level codes (211, 213) exist only as a one-invoice call's estatus; in a batch
# the SAT has the request: its result says 201 (received), with the provider's wording.
IN_PROCESS = Answer(211, "201", "La cancelación está en proceso", reached_sat=False)
AWAITING = Answer(211, "201", "La solicitud de cancelación requiere autorización del "
                  "receptor; en espera de aceptación", reached_sat=False)
NOT_DELIVERED = Answer(211, "201", "El comprobante aún no ha sido entregado al SAT; "
                       "intente más tarde", reached_sat=False)
DENIED = Answer(213, "201", "Solicitud rechazada por el receptor")

# Codes that answer the same every time.
FIXED: dict[str, Answer] = {
    "202": ALREADY, "204": NOT_CANCELABLE, "201": SAT_ERROR, "211": IN_PROCESS, "213": DENIED,
}
# Codes that stay pending until `resolve_after_s` has passed since first seen, then resolve.
RESOLVING: dict[str, tuple[Answer, Answer]] = {
    "A11": (AWAITING, CANCELED_ACCEPTED),
    "B11": (AWAITING, DENIED),
    "C11": (AWAITING, CANCELED_BY_SILENCE),
    "D11": (NOT_DELIVERED, CANCELED),
}


def code_of(uuid: str | None, folio: int | None) -> str:
    if uuid:
        groups = uuid.split("-")
        return groups[3][-3:].upper() if len(groups) == 5 else ""
    return f"{folio % 1000:03d}" if folio is not None else ""


def uuid_for_folio(serie: str, folio: int) -> str:
    """The sandbox's stable UUID for a serie + folio, keeping the folio's code."""
    base = str(uuidlib.uuid5(_FOLIO_NAMESPACE, f"{serie.upper()}-{folio}")).upper()
    groups = base.split("-")
    groups[3] = "F" + f"{folio % 1000:03d}"
    return "-".join(groups)


def whole_call_code(code: str) -> int | None:
    """An operation-level error code that this invoice code makes the whole call answer."""
    if not code.isdigit():
        return None
    klass = OPERATION.get(int(code))
    return int(code) if klass is not None and klass is not StatusClass.SUCCESS else None


@dataclass
class SandboxState:
    """Memory of the sandbox, shared by the provider and the SAT stand-ins: when each
    invoice's cancellation was first asked for, how often, tries per invoice, and invoices
    cancelled outside the bot (on the SAT's portal)."""

    resolve_after_s: float = 30.0
    # The SAT's status service shows what the provider cancelled this much later (its books
    # lag behind the cancellation service): 0 shows it at once.
    sat_lag_s: float = 0.0
    transient_failures: int = 2
    first_seen: dict[str, float] = field(default_factory=dict)
    tries: dict[str, int] = field(default_factory=dict)
    asked: dict[str, int] = field(default_factory=dict)
    cancelled_elsewhere: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def cancel_elsewhere(self, uuid: str) -> None:
        """The issuer cancels the invoice without the bot (the SAT's portal, another tool)."""
        with self.lock:
            self.cancelled_elsewhere.add(uuid.upper())

    def count_try(self, key: str) -> int:
        with self.lock:
            self.tries[key] = self.tries.get(key, 0) + 1
            return self.tries[key]

    def answer(self, key: str, code: str) -> Answer:
        with self.lock:
            seen = self.first_seen.setdefault(key, time.monotonic())
            self.asked[key] = self.asked.get(key, 0) + 1
            asked = self.asked[key]
            elsewhere = key in self.cancelled_elsewhere
        if elsewhere:
            return ALREADY
        if code in FIXED:
            return FIXED[code]
        if code in RESOLVING:
            waiting, resolved = RESOLVING[code]
            return resolved if time.monotonic() - seen >= self.resolve_after_s else waiting
        return RECEIVED if asked == 1 else CANCELED


# -- what the SAT's status service shows (bot/sandbox/sat_server.py) -------------------------

VIGENTE, CANCELADO, NO_ENCONTRADO = "Vigente", "Cancelado", "No Encontrado"
WITH_ACCEPTANCE, WITHOUT_ACCEPTANCE = "Cancelable con aceptación", "Cancelable sin aceptación"
NOT_CANCELABLE_SAT = "No cancelable"
IN_PROCESS_SAT, REJECTED_SAT = "En proceso", "Solicitud rechazada"
DIRECT_SAT, ACCEPTED_SAT, EXPIRED_SAT = ("Cancelado sin aceptación", "Cancelado con aceptación",
                                         "Plazo vencido")
# What each code's cancellation request becomes at the SAT: (before the delay, after it).
AT_THE_SAT: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "211": ((VIGENTE, IN_PROCESS_SAT), (VIGENTE, IN_PROCESS_SAT)),
    "213": ((VIGENTE, REJECTED_SAT), (VIGENTE, REJECTED_SAT)),
    "A11": ((VIGENTE, IN_PROCESS_SAT), (CANCELADO, ACCEPTED_SAT)),
    "B11": ((VIGENTE, IN_PROCESS_SAT), (VIGENTE, REJECTED_SAT)),
    "C11": ((VIGENTE, IN_PROCESS_SAT), (CANCELADO, EXPIRED_SAT)),
    "D11": ((VIGENTE, ""), (CANCELADO, DIRECT_SAT)),   # not yet delivered to the SAT
}


@dataclass(frozen=True)
class SatView:
    """What the SAT shows for one invoice: Estado, EsCancelable, EstatusCancelacion."""

    estado: str
    es_cancelable: str = ""
    estatus_cancelacion: str = ""


def sat_view(state: SandboxState, uuid: str) -> SatView:
    """The SAT's view of an invoice, from the same memory and delays as the provider's
    answers: what the provider sandbox has cancelled, the SAT shows cancelled."""
    key, code = uuid.upper(), code_of(uuid, None)
    if code == "201":                        # the provider's "SAT error 205: does not exist"
        return SatView(NO_ENCONTRADO)
    with state.lock:
        seen = state.first_seen.get(key)
        elsewhere = key in state.cancelled_elsewhere
    kind = (NOT_CANCELABLE_SAT if code == "204" else
            WITH_ACCEPTANCE if code in AT_THE_SAT and code != "D11" else WITHOUT_ACCEPTANCE)
    if elsewhere or code == "202":
        return SatView(CANCELADO, kind, DIRECT_SAT)
    if seen is None or code == "204":        # never asked (or refused by the provider)
        return SatView(VIGENTE, kind)
    elapsed = time.monotonic() - seen
    if code in AT_THE_SAT:
        before, after = AT_THE_SAT[code]
        shown = elapsed >= state.resolve_after_s + (state.sat_lag_s if after[0] == CANCELADO
                                                     else 0)
        estado, estatus = after if shown else before
        return SatView(estado, kind, estatus)
    if elapsed < state.sat_lag_s:                # cancelled, not yet on the SAT's books
        return SatView(VIGENTE, kind)
    return SatView(CANCELADO, kind, DIRECT_SAT)  # a direct cancellation: done at once

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

from bot.pac.status import OPERATION
from bot.provider import StatusClass

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
    """Memory of the sandbox: when each pending invoice was first seen, tries per invoice."""

    resolve_after_s: float = 30.0
    transient_failures: int = 2
    first_seen: dict[str, float] = field(default_factory=dict)
    tries: dict[str, int] = field(default_factory=dict)
    asked: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count_try(self, key: str) -> int:
        with self.lock:
            self.tries[key] = self.tries.get(key, 0) + 1
            return self.tries[key]

    def answer(self, key: str, code: str) -> Answer:
        if code in FIXED:
            return FIXED[code]
        with self.lock:
            seen = self.first_seen.setdefault(key, time.monotonic())
            self.asked[key] = self.asked.get(key, 0) + 1
            asked = self.asked[key]
        if code in RESOLVING:
            waiting, resolved = RESOLVING[code]
            return resolved if time.monotonic() - seen >= self.resolve_after_s else waiting
        return RECEIVED if asked == 1 else CANCELED

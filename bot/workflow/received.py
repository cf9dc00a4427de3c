"""The SAT's EstatusUUID 201 ("received") settled without asking the provider once per invoice.

Right after a submission every direct cancellation is only "received". The SAT's own status
service (bot/sat/consulta, already asked after "cancelled") says what became of each: Estado
"Cancelado" is cancelled, "Solicitud rechazada" is the receiver's refusal, "En proceso" waits
for the receiver (the watcher follows it). Only the invoices the SAT cannot settle (not
answering, or not showing the request yet) are asked of the provider again, in batches of
CFDI_BATCH_SIZE: a batch's result names each invoice's EstatusUUID, and "previously
cancelled" (202) settles a direct cancellation as well as a one-invoice call would
(docs/provider.md, "Confirming what the SAT received").
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from bot.actors import SYSTEM
from bot.providers.contract import InvoiceOutcome, Provider
from bot.sat.confirmation import Verdict, verdict
from bot.sat.outcomes import Outcome
from bot.sat.record import FactsRecord
from bot.sat.status import Cancelacion, SatStatus
from bot.workflow.answers import (
    DEFAULT_BACKOFF_S,
    RECEIVED_CODE,
    Recheck,
    next_check,
    recheck,
)
from bot.workflow.pace import WRITES, Pace
from bot.workflow.sat_words import SatWord, sat_fields, sat_line
from bot.workflow.transitions import complete_if_final, ref_of
from storage import queries
from storage.domain import Row, ThreadLine
from storage.errors import StaleState
from storage.states import InvoiceStatus as IS
from storage.states import ReplyKind as Reply
from storage.store import AuditStore
from storage.tx import Tx

SETTLE_BATCH = WRITES  # invoices settled per transaction, then the acks go first
_SETTLED = {Verdict.CONFIRMED: IS.CANCELED, Verdict.REFUSED: IS.DENIED}
_ACTIONS = {IS.CANCELED: "sat_confirmed", IS.DENIED: "sat_refused"}


async def confirm_received(store: AuditStore, pac: Provider, request_id: int, *,
                           backoff_s: Sequence[float] = DEFAULT_BACKOFF_S,
                           sat: SatWord | None = None, pace: Pace | None = None) -> Recheck:
    """Right after a submission: what the SAT only received (201) is asked of the SAT's
    status service where it is configured; the rest of the provider, in batches. What
    stays pending, the watcher follows."""
    received = [i for i in await queries.request_invoices_off_loop(store, request_id)
                if i["status"] == IS.PENDING and i["code"] == RECEIVED_CODE]
    if not received:
        return Recheck(0, 0, [], None)
    settled: list[tuple[Row, InvoiceOutcome]] = []
    unsettled = received
    if sat is not None and sat.asks_sat:
        words = await sat.ask_again(received)
        settled, unsettled = await _settle(store, received, words, backoff_s, pace or Pace())
    asked = await recheck(store, pac, unsettled, backoff_s, sat, one_per_call=False, pace=pace)
    return Recheck(len(received), len(received) - len(unsettled) + asked.answered,
                   settled + asked.changed, asked.error)


def _in_process(said: SatStatus | None) -> bool:
    """The SAT has the request and waits for the receiver: the watcher follows it."""
    return said is not None and said.cancelacion is Cancelacion.IN_PROCESS


async def _settle(store: AuditStore, received: list[Row], words: dict[int, FactsRecord],
                  backoff_s: Sequence[float], pace: Pace
                  ) -> tuple[list[tuple[Row, InvoiceOutcome]], list[Row]]:
    """Record what the SAT settles; (the changes, the invoices it could not settle)."""
    now = store.clock()
    changed: list[tuple[Row, InvoiceOutcome]] = []
    unsettled: list[Row] = []

    def write(tx: Tx, batch: list[Row]) -> None:
        touched = set()
        for invoice in batch:
            word = words.get(invoice["id"]) or FactsRecord(sat=None, sat_error="error")
            said = word.sat
            fields = {"sat_asks": invoice["sat_asks"] + 1, **sat_fields(invoice, word)}
            target = _SETTLED.get(verdict(said))
            if target is None:
                if _in_process(said):  # asked again by the watcher, on its schedule
                    tx.set_fields("invoice", invoice["id"], {
                        **fields, "next_check_at": next_check(now, 1, backoff_s)})
                else:
                    unsettled.append(invoice)
                continue
            line = ThreadLine(ref=invoice["ref_key"], status=target.value,
                              code=invoice["code"], detalle=invoice["detalle"],
                              **sat_line(word))
            try:
                tx.transition("invoice", invoice["id"], target, SYSTEM,
                              expect=IS.PENDING, action=_ACTIONS[target],
                              fields={**fields, "next_check_at": None},
                              details={"sat": word.sat_json, "asks": fields["sat_asks"],
                                       "after": RECEIVED_CODE})
            except StaleState:
                continue  # recorded meanwhile (a watcher cycle)
            tx.enqueue(invoice["request_id"], Reply.RESOLVED, line.as_json())
            touched.add(invoice["request_id"])
            changed.append((invoice, InvoiceOutcome(
                ref=ref_of(invoice), outcome=Outcome(target.value), code=invoice["code"],
                detalle=invoice["detalle"], estatus_uuid=invoice["estatus_uuid"])))
        for request_id in sorted(touched):
            complete_if_final(tx, request_id)

    for start in range(0, len(received), SETTLE_BATCH):
        # A large job's batches are written off the loop (AuditStore.write).
        await store.write(functools.partial(write, batch=received[start:start + SETTLE_BATCH]),
                          off_loop=pace.large(len(received)))
        await pace.turn(len(received))  # the acks waiting on the loop go first
    return changed, unsettled

"""The SAT's confirmation of the cancellations the provider reported (the watcher's part).

An invoice the provider says it cancelled, but that the SAT's status service did not yet
show Estado "Cancelado", waits in `awaiting_sat` ("cancelled per the provider; SAT
confirmation pending"). Each watcher cycle asks the SAT again about the due ones, each on
its own backoff (WATCH_BACKOFF_S), with the invoice's facts on record (its XML fetched again
when the provider could not give it before). The SAT's word decides: Cancelado -> `canceled`;
Vigente with "Solicitud rechazada" -> `denied`. Nothing waits forever: after SAT_CONFIRM_H
(or at once when the SAT is not asked) the invoice is `unconfirmed`, final, and the watcher
tells the operators so that a person checks on the SAT's portal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.actors import SYSTEM
from bot.config import DEFAULT_SAT_CONFIRM_H
from bot.sat.confirmation import Verdict, verdict
from bot.sat.record import FactsRecord
from bot.workflow.answers import DEFAULT_BACKOFF_S, WRITE_BATCH, next_check
from bot.workflow.sat_words import SAT_OFF, SatWord, sat_fields, sat_line
from bot.workflow.transitions import complete_if_final
from storage import queries
from storage.domain import Row, ThreadLine
from storage.errors import StaleState
from storage.states import InvoiceStatus as IS
from storage.states import ReplyKind as Reply
from storage.store import AuditStore
from storage.tx import Tx

_ACTIONS = {IS.CANCELED: "sat_confirmed", IS.DENIED: "sat_refused",
            IS.UNCONFIRMED: "sat_unconfirmed"}


@dataclass
class FollowUp:
    """What one watcher step of the SAT's confirmation did."""

    asked: int = 0
    answered: int = 0                                        # the SAT gave an answer
    changed: list[tuple[Row, IS]] = field(default_factory=list)
    given_up: list[Row] = field(default_factory=list)         # now `unconfirmed`
    sat_asked: bool = False                                   # the SAT is configured
    error: str | None = None                                  # one error it gave, if any

    @property
    def outage(self) -> bool:
        """The SAT was asked about some invoices and answered none of them."""
        return self.sat_asked and self.asked > 0 and self.answered == 0


async def follow_up(store: AuditStore, sat: SatWord | None, *, limit: int = 1_000,
                    backoff_s: Sequence[float] = DEFAULT_BACKOFF_S,
                    bound_h: float = DEFAULT_SAT_CONFIRM_H) -> FollowUp:
    """Ask the SAT about the due `awaiting_sat` invoices and record what it says."""
    now = store.clock()
    due = queries.due_sat(store, now, limit)
    result = FollowUp(asked=len(due))
    if not due:
        return result
    asking = sat is not None and sat.asks_sat
    words = await sat.ask_again(due) if sat is not None and asking else {}
    result.answered = sum(1 for w in words.values() if w.sat)
    result.sat_asked = asking
    result.error = next((w.sat_error for w in words.values() if w.sat_error), None)
    for start in range(0, len(due), WRITE_BATCH):
        async with store.writing() as tx:
            for invoice in due[start:start + WRITE_BATCH]:
                word = words.get(invoice["id"]) or FactsRecord(
                    sat=None, sat_error="error" if asking else SAT_OFF)
                _one(tx, invoice, word, now, backoff_s, bound_h, result)
        await asyncio.sleep(0)  # let the acks waiting on the loop go first
    return result


def _one(tx: Tx, invoice: Row, word: FactsRecord, now: datetime,
         backoff_s: Sequence[float], bound_h: float, result: FollowUp) -> None:
    said = word.sat
    found = verdict(said)
    asks = invoice["sat_asks"] + 1
    fields: dict[str, Any] = {"sat_asks": asks, **sat_fields(invoice, word)}
    since = datetime.fromisoformat(invoice["pending_since"] or invoice["updated_at"])
    late = word.sat_error == SAT_OFF or now - since >= timedelta(hours=bound_h)
    target = {Verdict.CONFIRMED: IS.CANCELED, Verdict.REFUSED: IS.DENIED}.get(
        found, IS.UNCONFIRMED if late else None)
    if target is None:  # not yet: asked again on its own schedule
        tx.set_fields("invoice", invoice["id"],
                      {**fields, "next_check_at": next_check(now, asks, backoff_s)})
        return
    fields["next_check_at"] = None
    line = ThreadLine(ref=invoice["ref_key"], status=target.value, code=invoice["code"],
                      detalle=invoice["detalle"], **sat_line(word), hours=bound_h)
    try:
        tx.transition("invoice", invoice["id"], target, SYSTEM, expect=IS.AWAITING_SAT,
                      action=_ACTIONS[target], fields=fields,
                      details={"sat": word.sat_json, "sat_error": word.sat_error,
                               "asks": asks, "hours": bound_h})
    except StaleState:
        return  # recorded meanwhile (another cycle, a reconciliation)
    tx.enqueue(invoice["request_id"], Reply.RESOLVED, line.as_json())
    complete_if_final(tx, invoice["request_id"])
    result.changed.append((invoice, target))
    if target is IS.UNCONFIRMED:
        result.given_up.append(invoice)

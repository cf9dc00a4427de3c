"""The daily reconciliation: what the bot believes of each invoice against what the SAT says.

Once a day (RECONCILE_HOUR, in TIMEZONE; also `python -m bot reconcile`) the SAT is asked
about the invoices of cancellations the bot believes pending (pending, awaiting the SAT,
unconfirmed, requested), every invoice of an open request, and those settled in the last
RECENT_DAYS days (storage.queries.to_reconcile), least recently asked first, at most PER_RUN
per run, a few at once (the FactFinder's bound). Where the two disagree the operators are
told once per disagreement (ADMIN_CHANNEL), and each disagreement is an audit event:
- `cancelled_elsewhere`: the SAT shows it cancelled while the bot's row is not (requested,
  rejected, expired, failed, denied, not cancellable, unknown): cancelled outside the bot;
- `not_cancelled`: the bot says cancelled while the SAT shows it Vigente or not found.
An `unconfirmed` invoice the SAT now shows cancelled becomes `canceled` (with its reply);
the ones awaiting the SAT are the watcher's. Nothing here runs on an ack path: a periodic
task, and writes through AuditStore.writing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from bot.actors import SYSTEM
from bot.i18n import t
from bot.sat.record import FactsRecord
from bot.sat.status import Estado, SatStatus
from bot.slack.mrkdwn import escape
from bot.workflow.sat_words import sat_fields, sat_line
from bot.workflow.transitions import complete_if_final
from storage import queries
from storage.domain import Row, ThreadLine
from storage.errors import StaleState
from storage.states import BELIEVED_CANCELLED, BELIEVED_NOT_CANCELLED, CLOSED_REQUEST, TO_RESUME
from storage.states import InvoiceStatus as IS
from storage.states import ReplyKind as Reply
from storage.tx import Tx

if TYPE_CHECKING:
    from bot.runtime.services import Services

log = logging.getLogger(__name__)

RECENT_DAYS = 30     # settled invoices asked about again for this long
PER_RUN = 2_000      # invoices asked per run (the least recently asked first)
BATCH = 100          # asked, then written, a batch at a time
SHOWN = 20           # disagreements listed in one operators' message
IN_FLIGHT = TO_RESUME  # requests whose provider call may be under way (approved, submitting)


class Disagreement(StrEnum):
    """An invoice the SAT shows otherwise than the bot believes."""

    CANCELLED_ELSEWHERE = "cancelled_elsewhere"
    NOT_CANCELLED = "not_cancelled"


@dataclass
class Reconciliation:
    """What one daily reconciliation with the SAT asked and found."""

    asked: int = 0
    answered: int = 0
    found: list[tuple[Row, Disagreement, SatStatus]] = field(default_factory=list)  # new
    confirmed: list[Row] = field(default_factory=list)   # unconfirmed -> canceled


def disagreement(status: str, sat: SatStatus) -> Disagreement | None:
    if sat.state is Estado.CANCELADO and status in (*BELIEVED_NOT_CANCELLED, IS.REQUESTED):
        return Disagreement.CANCELLED_ELSEWHERE
    if sat.state is not Estado.CANCELADO and status in (*BELIEVED_CANCELLED, IS.UNCONFIRMED):
        return Disagreement.NOT_CANCELLED  # unconfirmed: the provider said so, the SAT not
    return None


def seconds_until(hour: int, now: datetime) -> float:
    """From `now` (aware, in the zone meant) to the next `hour`:00."""
    target = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    return (target - now).total_seconds()


class Reconciler:
    """Runs the daily reconciliation with the SAT and reports its disagreements."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._armed = False
        self._lock = asyncio.Lock()

    async def daily(self) -> float:
        """The periodic task (Tasks.every): the first call only waits for RECONCILE_HOUR."""
        if self._armed:
            await self.run()
        self._armed = True
        settings = self.services.settings
        return seconds_until(settings.reconcile_hour, datetime.now(settings.zone))

    async def run(self) -> Reconciliation:
        """One reconciliation; never two at once."""
        async with self._lock:
            services = self.services
            store, facts = services.store, services.facts
            result = Reconciliation()
            rows = queries.to_reconcile(store, store.clock() - timedelta(days=RECENT_DAYS),
                                        PER_RUN)
            result.asked = len(rows)
            if facts is None or not facts.asks_sat or not rows:
                await self._record(result, asked_sat=False)
                return result
            for start in range(0, len(rows), BATCH):
                batch = rows[start:start + BATCH]
                words = await facts.ask_again(batch)
                async with store.writing() as tx:
                    for row in batch:
                        self._one(tx, row, words.get(row["id"]) or FactsRecord(), result)
            await self._record(result, asked_sat=True)
            await services.outbox.flush()
            return result

    def _one(self, tx: Tx, row: Row, word: FactsRecord, result: Reconciliation) -> None:
        if (sat := word.sat) is None:
            return  # unanswered: asked first next time (sat_checked_at unchanged)
        result.answered += 1
        fields = {"sat_checked_at": self.services.store.now(), **sat_fields(row, word)}
        request_status = tx.request_status(row["request_id"])
        if fields.get("facts") and request_status not in CLOSED_REQUEST:
            tx.card_changed(row["request_id"])  # an open card shows the SAT's latest word
        if tx.invoice_status(row["id"]) != row["status"] or request_status in IN_FLIGHT:
            # Moved while the SAT was asked, or the provider has it now: the SAT may show
            # the bot's own cancellation. Judged next time.
            tx.set_fields("invoice", row["id"], {"sat_checked_at": None})
            return
        if row["status"] == IS.UNCONFIRMED and sat.state is Estado.CANCELADO:
            self._confirmed_late(tx, row, word, fields, result)
            return
        found = disagreement(row["status"], sat)
        fields["sat_disagreement"] = found.value if found else None
        tx.set_fields("invoice", row["id"], fields)
        if found is None or row["sat_disagreement"] == found.value:
            return  # agreement, or a disagreement already told
        result.found.append((row, found, sat))
        tx.record(SYSTEM, "sat_disagreement", request_id=row["request_id"],
                  invoice_ref=row["ref_key"], details={
                      "kind": found.value, "status": row["status"], "sat": word.sat_json})

    @staticmethod
    def _confirmed_late(tx: Tx, row: Row, word: FactsRecord, fields: dict[str, Any],
                        result: Reconciliation) -> None:
        if tx.live_rows([row["ref_key"]]):  # asked again meanwhile: the newer row follows it
            tx.set_fields("invoice", row["id"], fields)
            return
        try:
            tx.transition("invoice", row["id"], IS.CANCELED, SYSTEM, expect=IS.UNCONFIRMED,
                          action="sat_confirmed", fields={**fields, "sat_disagreement": None},
                          details={"sat": word.sat_json, "by": "reconciliation"})
        except StaleState:
            return
        tx.enqueue(row["request_id"], Reply.RESOLVED, ThreadLine(
            ref=row["ref_key"], status=IS.CANCELED.value, code=row["code"],
            detalle=row["detalle"], **sat_line(word)).as_json())
        complete_if_final(tx, row["request_id"])
        result.confirmed.append(row)

    async def _record(self, result: Reconciliation, *, asked_sat: bool) -> None:
        services, lang = self.services, self.services.lang
        await services.store.append(SYSTEM, "reconciled", details={
            "asked": result.asked, "answered": result.answered, "sat_asked": asked_sat,
            "disagreements": len(result.found), "confirmed": len(result.confirmed)})
        if result.asked and not result.answered:
            key = "admin.reconcile_unanswered" if asked_sat else "admin.reconcile_off"
            await services.io.tell_admins(t(key, lang, count=result.asked))
        if not result.found:
            return
        lines = [t("admin.reconcile_found", lang, count=len(result.found))]
        for row, kind, sat in result.found[:SHOWN]:
            lines.append(t(f"admin.reconcile.{kind}", lang, ref=escape(row["ref_key"]),
                           id=row["request_id"], status=t(f"outcome.{row['status']}", lang),
                           estado=t(f"sat.estado.{sat.state}", lang)))
        if len(result.found) > SHOWN:
            lines.append(t("card.more_invoices", lang, count=len(result.found) - SHOWN))
        await services.io.tell_admins("\n".join(lines), "reconciliation_alerted")

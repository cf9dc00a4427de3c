"""The SAT's word on what the provider says it cancelled: asked right after the
provider's answer (through FactFinder), and frozen into the thread's lines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from bot.providers.contract import InvoiceOutcome
from bot.sat.outcomes import Outcome
from bot.sat.record import FactsRecord
from storage.domain import Row, ThreadLine

SAT_OFF = "off"            # the SAT is not asked (SAT_CONSULTA_URL): nothing can confirm


class SatWord(Protocol):
    """Asks the SAT about invoices (bot.workflow.facts.FactFinder): by row id, a facts record with
    the SAT's answer ("sat") or why there is none ("sat_error")."""

    @property
    def asks_sat(self) -> bool: ...

    @property
    def confirm_h(self) -> float: ...  # how long the SAT is asked to confirm (SAT_CONFIRM_H)

    async def ask_again(self, rows: Sequence[Row]) -> dict[int, FactsRecord]: ...


def outcome_line(invoice: Row, outcome: InvoiceOutcome, status: str | None = None,
                 word: FactsRecord | None = None) -> ThreadLine:
    """The facts a thread reply shows for one invoice, frozen at the moment of the change:
    the status, the provider's code and words, and what the SAT said (`sat_line`)."""
    line = ThreadLine(ref=invoice["ref_key"], status=status or outcome.outcome.value,
                      code=outcome.code, detalle=outcome.detalle)
    return replace(line, **sat_line(word)) if word is not None else line


def sat_line(word: FactsRecord) -> dict[str, Any]:
    """The SAT's answer in a thread line: Estado and EstatusCancelacion (which drive the
    words), or why it did not answer."""
    if (said := word.sat) is not None:
        return {"sat_estado": said.state.value, "sat_cancelacion": said.cancelacion.value}
    return {"sat_error": word.sat_error or "error"}


async def ask_sat(sat: SatWord | None, invoices: Sequence[Row],
                     outcomes: Sequence[InvoiceOutcome]) -> dict[int, FactsRecord]:
    """The SAT's word on each invoice the provider says it cancelled (by row id)."""
    if sat is None or not sat.asks_sat:
        return {}
    told = [i for i, o in zip(invoices, outcomes, strict=True)
            if o.outcome is Outcome.CANCELED and not o.error_class]
    return await sat.ask_again(told) if told else {}


def word_for(sat: SatWord | None, words: dict[int, FactsRecord], invoice: Row
             ) -> FactsRecord:
    if sat is None or not sat.asks_sat:
        return FactsRecord(sat=None, sat_error=SAT_OFF)
    return words.get(invoice["id"]) or FactsRecord(sat=None, sat_error="error")


def confirm_hours(sat: SatWord | None) -> float | None:
    return sat.confirm_h if sat is not None else None


def sat_fields(invoice: Row, word: FactsRecord) -> dict[str, Any]:
    """The SAT's answer kept with the invoice's facts (the card shows the latest); a failed
    ask keeps the last answer there (its error is in the event)."""
    if word.sat is None and word.invoice is None:
        return {}
    known = json.loads(invoice.get("facts") or "null") or {}
    fresh = word.as_json()
    if word.sat is None:
        return {"facts": json.dumps({**known, "invoice": fresh["invoice"]})}
    return {"facts": json.dumps({**known, **fresh})}

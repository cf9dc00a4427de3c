"""What each invoice of a request is, and what the SAT says of it, looked up after the card
is posted (the ack never waits for it) and shown on the card when it arrives.

For each invoice, a few at once: its XML from the provider (`Provider.invoice_xml`), read into
facts (bot.sat.cfdi), or the XML the requester attached to the form (bot.slack.attachments),
already read; with those facts, the SAT's status (bot.sat.consulta). The record says where
the facts came from (`source`: "provider" or "attached", with the file's name and SHA-256).
Every lookup is bounded by its client's timeout and retries, so the card is always completed,
with "unavailable" where the provider or the SAT could not answer; approval never waits for it.
The facts go into the invoice's row (one transaction for the request, which marks the card
owed) and each invoice's lookup is an audit event, so what an approver saw is on record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.actors import SYSTEM
from bot.config import Settings
from bot.providers.contract import InvoiceNotFound, Provider, ProviderError
from bot.sat.cfdi import CfdiError, CfdiFacts, parse
from bot.sat.consulta.client import SatClient, SatError
from bot.sat.record import FactsRecord
from bot.sat.refs import InvoiceRef
from bot.sat.replacement import check as check_replacement
from bot.workflow.flagged import tell_requester
from bot.workflow.pace import WRITES, Gate, Pace
from bot.workflow.transitions import item_of
from storage import queries
from storage.domain import Row
from storage.states import RequestKind
from storage.store import AuditStore
from storage.tx import Tx

if TYPE_CHECKING:  # the outbox renders cards, which show these facts (bot.slack.render.kit)
    from bot.slack.outbox import Outbox

log = logging.getLogger(__name__)

WRITE_BATCH = WRITES  # facts written per transaction (then the acks go first)


def _replacement_check(looked: dict[str, Any], cancelled: CfdiFacts) -> dict[str, Any]:
    """What the replacement is to one cancelled invoice, for its facts record."""
    facts: CfdiFacts | None = looked["facts"]
    return {"ref": looked["ref"], "uuid": facts.uuid if facts else None,
            "error": looked["error"],
            "check": check_replacement(facts, cancelled, found=looked["found"]).value}


def _amount_basis(record: FactsRecord) -> CfdiFacts | None:
    """The facts APPROVAL_RULES may weigh. An attached XML is the requester's word (its seal
    is not checked here): its total counts only when the SAT found the invoice with it (the
    SAT matches issuer, receiver, total and UUID). Otherwise the amount is unknown, and the
    strictest rule stays: a retouched file cannot lower the approvals needed."""
    if record.attached and not (record.sat and record.sat.found):
        return None
    return record.invoice


def newest_sat(found: dict[str, Any], row: Row | None) -> dict[str, Any]:
    """The lookup's record with the SAT's newest answer: the one already on the invoice's
    row when it was given later than the lookup's (`sat_at`, fixed-width UTC, sorts)."""
    known = json.loads((row or {}).get("facts") or "null") or {}
    if known.get("sat") and known.get("sat_at") and (
            not found.get("sat_at") or known["sat_at"] > found["sat_at"]):
        return {**found, "sat": known["sat"], "sat_error": None, "sat_at": known["sat_at"]}
    return found


async def _replacements(request: Row | None, invoices: Sequence[Row], pace: Pace
                        ) -> dict[int, str]:
    """By invoice row id, the key of the replacement it is cancelled with (reason 01); a
    large request's rows a slice at a time (pace.spread)."""
    if request is None or request["kind"] != RequestKind.CANCEL:
        return {}
    items = await pace.spread(invoices, lambda row: item_of(row, request))
    return {row["id"]: item.replacement.key for row, item in zip(invoices, items, strict=True)
            if item.replacement is not None}


@dataclass(frozen=True)
class AttachedXml:
    """An invoice's XML as the requester attached it, read (its content is not kept)."""
    name: str
    sha256: str
    facts: CfdiFacts


class FactFinder:
    """Looks up each invoice's XML and SAT status after the card is out."""

    def __init__(self, settings: Settings, store: AuditStore, provider: Provider,
                 sat: SatClient | None, outbox: Outbox, *, pace: Pace | None = None) -> None:
        self.settings = settings
        self.store = store
        self.provider = provider
        self.sat = sat
        self.outbox = outbox
        self.pace = pace or Pace(large_at=settings.large_request_at)

    async def gather(self, request_id: int, invoices: Sequence[Row],
                     attached: Mapping[str, AttachedXml] | None = None
                     ) -> list[CfdiFacts | None]:
        """Look every invoice up (from its attached XML, by ref key, when there is one),
        record what was found, bring the card up to date; per invoice, the facts an amount
        rule may rest on (_amount_basis).
        (Started with Tasks.spawn, it begins once the Slack answers in progress are out.)"""
        attached = attached or {}
        request = queries.get_request(self.store, request_id)
        wanted = await _replacements(request, invoices, self.pace)
        keys = sorted(set(wanted.values()))

        async def one(row: Row, step: Gate) -> dict[str, Any]:
            try:
                return await self.look_up(InvoiceRef.from_key(row["ref_key"]),
                                          attached.get(row["ref_key"]), step=step)
            except Exception:  # a bug must not leave the card waiting for ever
                log.exception("looking up invoice %s failed", row["ref_key"])
                return {"invoice": None, "invoice_error": "error", "sat": None,
                        "sat_error": "no_facts", "source": None}

        async def replacing(key: str) -> dict[str, Any]:
            return await self._replacement(InvoiceRef.from_key(key))

        # Reason 01: each invoice's replacement (its own, or the request's), each asked once.
        # A large request's lookups go at the pace every large job shares (pace.py), each
        # of their calls through its lane.
        looked, found = await asyncio.gather(self.pace.map(keys, replacing),
                                             self.pace.map_each_call(invoices, one))
        replacements = dict(zip(keys, looked, strict=True))

        def checked(pair: tuple[Row, dict[str, Any]]) -> FactsRecord:
            row, record = pair
            if record["invoice"] is not None and row["id"] in wanted:
                record["replacement"] = _replacement_check(
                    replacements[wanted[row["id"]]], CfdiFacts.model_validate(record["invoice"]))
            return FactsRecord.model_validate(record)

        records = await self.pace.spread(list(zip(invoices, found, strict=True)), checked)
        await self.record(request_id, invoices, found)
        await self.outbox.update_card(request_id)  # a card not yet posted stays owed
        await self.outbox.share_list(request_id)  # a large request's list, once
        await tell_requester(self.store, self.outbox, self.settings, self.pace, request_id, [
            (row["ref_key"], record) for row, record in zip(invoices, records, strict=True)
            if record.invoice])
        return [_amount_basis(record) for record in records]

    async def record(self, request_id: int, invoices: Sequence[Row],
                     found: Sequence[dict[str, Any]]) -> None:
        """Write what the lookups found (each lookup an `invoice_facts` event) and mark the
        card owed, WRITE_BATCH invoices per transaction (a big request's write must not
        hold the loop). The SAT's answer kept is the newest: a submission's confirmation may
        have recorded a later one while the lookups ran (`newest_sat`)."""
        pairs = list(zip(invoices, found, strict=True))
        for start in range(0, len(pairs), WRITE_BATCH):
            batch = pairs[start:start + WRITE_BATCH]

            def write(tx: Tx, batch: list[tuple[Row, dict[str, Any]]] = batch) -> None:
                current = tx.invoices_by_id([row["id"] for row, _ in batch])
                for row, facts in batch:
                    kept = newest_sat(facts, current.get(row["id"]))
                    tx.set_fields("invoice", row["id"], {"facts": json.dumps(kept)})
                    tx.record(SYSTEM, "invoice_facts", request_id=request_id,
                              invoice_ref=row["ref_key"], details=facts)
                tx.card_changed(request_id)

            # A large request's batches are written off the loop (AuditStore.write).
            await self.store.write(write, off_loop=self.pace.large(len(pairs)))
            await self.pace.turn(len(pairs))  # the acks waiting on the loop go first

    async def _replacement(self, ref: InvoiceRef) -> dict[str, Any]:
        """Reason 01: the replacement's own XML, or why it could not be had."""
        looked: dict[str, Any] = {"ref": ref.key, "facts": None, "error": None, "found": True}
        try:
            facts = parse(await self.provider.invoice_xml(ref))
        except ProviderError as exc:
            looked |= {"error": exc.code, "found": not isinstance(exc, InvoiceNotFound)}
            return looked
        except CfdiError as exc:
            looked["error"] = f"cfdi:{exc.kind}"
            return looked
        except Exception:  # a bug must not leave the card waiting for ever
            log.exception("looking up the replacement %s failed", ref.key)
            looked["error"] = "error"
            return looked
        if ref.uuid and facts.uuid != ref.uuid:
            looked["error"] = "cfdi:other_uuid"
        else:
            looked["facts"] = facts
        return looked

    @property
    def asks_sat(self) -> bool:
        """False when SAT_CONSULTA_URL leaves the SAT unasked."""
        return self.sat is not None

    @property
    def confirm_h(self) -> float:
        return self.settings.sat_confirm_h

    async def ask_again(self, rows: Sequence[Row]) -> dict[int, FactsRecord]:
        """What the SAT says of each invoice now (by row id), a few at once: asked with the
        facts on record, or, when the XML could not be had before, looked up afresh. The
        record has look_up's shape ("off" when the SAT is not asked); never raises."""
        async def one(row: Row, step: Gate) -> FactsRecord:
            known = json.loads(row.get("facts") or "null") or {}
            try:
                if not known.get("invoice"):
                    found = await self.look_up(InvoiceRef.from_key(row["ref_key"]), step=step)
                else:
                    found = await self._sat_of(CfdiFacts.model_validate(known["invoice"]),
                                               dict(known), step)
            except Exception:  # a bug must not stop the others' answers
                log.exception("asking the SAT about invoice %s failed", row["ref_key"])
                found = {**known, "sat": None, "sat_error": "error"}
            return FactsRecord.model_validate(found)

        # Many rows (a large request's confirmation, the daily reconciliation): at the pace
        # every large job shares (pace.py).
        return {row["id"]: record for row, record in
                zip(rows, await self.pace.map_each_call(rows, one), strict=True)}

    async def _sat_of(self, facts: CfdiFacts, record: dict[str, Any],
                      step: Gate = contextlib.nullcontext) -> dict[str, Any]:
        if self.sat is None:
            return {**record, "sat": None, "sat_error": "off"}
        try:
            async with step():
                answer = await self.sat.status(facts.issuer_rfc, facts.receiver_rfc,
                                               facts.total, facts.uuid)
        except SatError as exc:
            return {**record, "sat": None, "sat_error": exc.code}
        # the SAT's word holds at this moment
        return {**record, "sat": answer.model_dump(), "sat_error": None,
                "sat_at": self.store.now()}

    async def look_up(self, ref: InvoiceRef, attached: AttachedXml | None = None, *,
                      step: Gate = contextlib.nullcontext) -> dict[str, Any]:
        """{"invoice": facts | None, "invoice_error": code | None, "sat": answer | None,
        "sat_error": code | None, "sat_at": when the SAT answered, "source": "attached" |
        "provider"}: a failure is a code for the audit log, never raised. An attached XML
        (already matched to `ref`) is used as it is: the provider is not asked. Each call
        (the provider's, the SAT's) is made under `step` (Pace.map_each_call)."""
        record: dict[str, Any] = {"invoice": None, "invoice_error": None, "sat": None,
                                  "sat_error": None, "sat_at": None, "source": "provider"}
        facts: CfdiFacts | None = None
        if attached is not None:
            facts = attached.facts
            record.update(source="attached", file=attached.name, sha256=attached.sha256)
        else:
            try:
                async with step():
                    xml = await self.provider.invoice_xml(ref)
                facts = parse(xml)
            except ProviderError as exc:
                record["invoice_error"] = exc.code
            except CfdiError as exc:
                record["invoice_error"] = f"cfdi:{exc.kind}"
        if facts is not None and ref.uuid and facts.uuid != ref.uuid:
            facts, record["invoice_error"] = None, "cfdi:other_uuid"  # not the one asked for
        if facts is None:
            record["sat_error"] = "no_facts"  # the SAT is asked with the invoice's own facts
            return record
        record["invoice"] = facts.model_dump(mode="json")
        return await self._sat_of(facts, record, step)

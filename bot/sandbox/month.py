"""A month of cancellations written straight into an audit file through the store's
transactions: the rows and events the flow writes (created, decided, approved, submitted,
the provider's answer with the invoice's facts), for the report's benchmark, tests and the
README's picture. November 2026, 10 invoices a request, their facts from the sandbox's book.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from bot.actors import SYSTEM, Actor
from bot.sandbox.invoices import SandboxBook
from storage.domain import NewInvoice
from storage.states import InvoiceStatus as IS
from storage.states import RequestKind
from storage.states import RequestStatus as RS
from storage.store import AuditStore

PER_REQUEST = 10
OUTCOMES = [IS.CANCELED] * 8 + [IS.PENDING, IS.DENIED, IS.NOT_CANCELABLE, IS.UNKNOWN]


class _Clock:
    """The store's clock while the month is written."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def fill_month(store: AuditStore, book: SandboxBook, invoices: int, seed: int = 24) -> None:
    """`invoices` invoices in cancellations requested over the month, approved, answered
    (their facts from the sandbox's `book`)."""
    rng = random.Random(seed)
    clock = _Clock()
    store.clock = clock
    first, step = clock.now, timedelta(days=29) / max(invoices // PER_REQUEST, 1)
    approver = Actor("U0BETO", "beto.ruiz")
    for number, start in enumerate(range(0, invoices, PER_REQUEST)):
        clock.now = first + number * step
        uuids = [f"{n:08X}-2424-4424-F000-{n:012X}"
                 for n in range(start + 1, min(start + PER_REQUEST, invoices) + 1)]
        async with store.writing() as tx:
            request_id = tx.create_request(
                kind=RequestKind.CANCEL, requester=Actor("U0ANA", "ana.lopez"),
                reason=rng.choice(["01", "02", "02", "02", "03", "04"]),
                justification="benchmark",
                invoices=[NewInvoice(ref_key=u, uuid=u) for u in uuids])
        clock.now += timedelta(minutes=rng.randint(5, 240))
        async with store.writing() as tx:
            tx.decide(request_id, approver, "approve")
            for status in (RS.APPROVED, RS.SUBMITTING, RS.SUBMITTED):
                tx.transition("request", request_id, status, approver if status ==
                              RS.APPROVED else SYSTEM)
        clock.now += timedelta(seconds=rng.randint(2, 90))
        async with store.writing() as tx:
            for row, uuid in zip(tx.request_invoices(request_id), uuids, strict=True):
                facts = book.get(uuid)
                if rng.random() < 0.1:
                    facts = facts.model_copy(update={"currency": "USD",
                                                     "exchange_rate": "18.25"})
                tx.transition("invoice", row["id"], rng.choice(OUTCOMES), SYSTEM,
                              action="provider_answered", fields={"facts": json.dumps(
                                  {"invoice": facts.model_dump(mode="json")})})

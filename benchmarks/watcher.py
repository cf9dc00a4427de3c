"""One watch cycle over 10,000 pending invoices against the sandbox provider over HTTP.

Printed: provider calls made (must be ceil(N / batch)), the time spent in SQLite and in
the provider, and the cycle's total beside a baseline measured in the same run: the same
provider calls alone, with no database work (so the ratio is the cost of the bookkeeping).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.actors import SYSTEM, Actor
from bot.providers.solucion_factible.client import PacClient
from bot.sandbox.pac_server import SandboxPac
from bot.sat.cancellation import CancelItem
from bot.sat.refs import InvoiceRef
from bot.workflow.answers import recheck_pending
from storage import queries
from storage.domain import NewInvoice
from storage.sql import iso
from storage.store import AuditStore

PENDING = int(os.environ.get("BENCH_PENDING", "10000"))
BATCH = int(os.environ.get("BENCH_BATCH", "50"))
PER_REQUEST = 100
BENCH_ACTOR = Actor("U0BENCH", "bench")
COMMAND = "make bench  (python -m benchmarks watcher; BENCH_PENDING, BENCH_BATCH to scale)"


def _uuid(n: int) -> str:
    # Half resolve on this check (receiver accepted), half stay in process.
    code = "A11" if n % 2 else "211"
    return f"{n:08X}-0000-4000-F{code}-{n:012X}"


def seed_pending(store: AuditStore, uuids: Sequence[str], *,
                 requester: Actor = BENCH_ACTOR,
                 approvals_channel: str = "C0BENCH") -> list[int]:
    """Invoices pending and due now, PER_REQUEST to a submitted request, written through the
    transitions like real ones (one transaction); the requests' ids."""
    now = iso(store.clock())
    request_ids = []
    with store.transaction() as tx:
        for first in range(0, len(uuids), PER_REQUEST):
            refs = uuids[first:first + PER_REQUEST]
            request_id = tx.create_request(
                kind="cancel", requester=requester, reason="02", justification="benchmark",
                invoices=[NewInvoice(r, uuid=r) for r in refs],
                approvals_channel=approvals_channel)
            tx.transition("request", request_id, "approved", SYSTEM)
            tx.transition("request", request_id, "submitting", SYSTEM)
            tx.transition("request", request_id, "submitted", SYSTEM)
            for invoice in queries.request_invoices(store, request_id):
                tx.transition("invoice", invoice["id"], "pending", SYSTEM,
                              fields={"next_check_at": now, "pending_since": now})
            request_ids.append(request_id)
    return request_ids


class Timed:
    """The provider client, with the time spent waiting for it added up."""

    def __init__(self, client: PacClient) -> None:
        self.client, self.seconds = client, 0.0

    async def cancel(self, items: Any, **options: Any) -> Any:
        start = time.perf_counter()
        try:
            return await self.client.cancel(items, **options)
        finally:
            self.seconds += time.perf_counter() - start


async def _run(folder: Path) -> None:
    with SandboxPac(resolve_after_s=0.0) as sandbox:
        client = await PacClient.create(sandbox.wsdl_url, sandbox.endpoint, usuario="sandbox",
                                        password="sandbox", batch_size=BATCH)
        store = AuditStore.open(folder / "watch.db")
        seed_pending(store, [_uuid(n) for n in range(PENDING)])
        items = [CancelItem(ref=InvoiceRef(uuid=_uuid(n)), reason="02") for n in range(PENDING)]
        start = time.perf_counter()
        await client.cancel(items, one_per_call=True)  # baseline: the same calls, no database
        baseline = time.perf_counter() - start
        timed = Timed(client)
        calls_before = sandbox.calls["cancelar"]
        start = time.perf_counter()
        result = await recheck_pending(store, timed, backoff_s=(60,))  # type: ignore[arg-type]
        total = time.perf_counter() - start
        calls = sandbox.calls["cancelar"] - calls_before
        outbox = store.db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        store.close()
        await client.aclose()
    sqlite = total - timed.seconds
    expected = PENDING  # re-asks go one invoice per call (211/213 are one-invoice answers)
    print(f"  {PENDING:,} due pending invoices, asked one per call: {calls} provider calls "
          f"({'OK' if calls == expected else 'WRONG'}, expected {expected})")
    print(f"  changed {len(result.changed):,} (thread replies queued: {outbox:,}); "
          f"asked {result.asked:,}")
    print(f"  cycle total {total:.2f} s = provider {timed.seconds:.2f} s + SQLite and "
          f"bookkeeping {sqlite:.2f} s ({sqlite / total:.0%} of the cycle)")
    print(f"  baseline, the same provider calls without the database: {baseline:.2f} s; "
          f"the cycle takes {total / baseline:.2f}x of it")


def main() -> None:
    print("== watcher: one cycle")
    print(f"   command: {COMMAND}")
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_run(Path(folder)))

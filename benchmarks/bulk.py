"""Bulk cancellation: 1,000 invoices in one request, submitted through the use case.

Beside it, in the same run, the same request sent one invoice per call (batch size 1):
the baseline the batching is measured against. Target: at least 20x fewer calls.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from bot.actors import SYSTEM, Actor
from bot.providers.solucion_factible.client import PacClient
from bot.sandbox.pac_server import SandboxPac
from bot.sat.refs import InvoiceRef
from bot.workflow.answers import submit
from bot.workflow.transitions import approve, create_cancel_request
from storage.store import AuditStore

INVOICES = int(os.environ.get("BENCH_BULK", "1000"))
COMMAND = "make bench  (python -m benchmarks bulk; BENCH_BULK to scale)"


async def _one_request(folder: Path, sandbox: SandboxPac, batch: int) -> tuple[int, float]:
    store = AuditStore.open(folder / f"bulk-{batch}.db")
    client = await PacClient.create(sandbox.wsdl_url, sandbox.endpoint, usuario="sandbox",
                                    password="sandbox", batch_size=batch)
    refs = [InvoiceRef(uuid=f"{n:08X}-0000-4000-8000-{n:012X}") for n in range(INVOICES)]
    request_id = await create_cancel_request(store, Actor("U0BENCH", "bench"), refs,
                                             reason="02", justification="benchmark")
    await approve(store, request_id, SYSTEM, required=0)
    start = time.perf_counter()
    submission = await submit(store, client, request_id)
    elapsed = time.perf_counter() - start
    # Direct cancellations are "received" (pending, confirmed by a later ask); asked a second
    # time (the baseline run, same invoices) they are "previously cancelled".
    assert submission.status in ("submitted", "completed"), submission.status
    calls = client.calls
    await client.aclose()
    store.close()
    return calls, elapsed


async def _run(folder: Path) -> None:
    with SandboxPac() as sandbox:
        calls, elapsed = await _one_request(folder, sandbox, 50)
        one_calls, one_elapsed = await _one_request(folder, sandbox, 1)
    print(f"  {INVOICES:,} invoices in one request, batch 50: {calls} provider calls, "
          f"{elapsed:.2f} s (every answer recorded)")
    print(f"  baseline, one invoice per call: {one_calls:,} calls, {one_elapsed:.2f} s")
    print(f"  {one_calls / calls:.0f}x fewer calls (target >= 20x: "
          f"{'met' if one_calls / calls >= 20 else 'MISSED'}), {one_elapsed / elapsed:.1f}x faster")


def main() -> None:
    print("== bulk cancellation")
    print(f"   command: {COMMAND}")
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_run(Path(folder)))

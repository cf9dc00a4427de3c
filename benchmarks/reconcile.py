"""The daily reconciliation with the SAT: how long a run over an audit log of cancelled
invoices takes with a few SAT asks at once (pace.PACE_AT_ONCE) beside the same asks one after
another, and how late the event loop runs meanwhile (the longest lateness of a 1 ms ticker,
beside the same ticker with the bot idle), in the same run.

The bot on the stand-ins (Stage); the invoices are written straight into its audit file,
cancelled and shown cancelled by the SAT stand-in (agreement: no alerts), which answers each
ask after LATENCY_S as a network would.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from bot.actors import SYSTEM, Actor
from bot.sandbox.stage import Stage
from bot.sat.refs import InvoiceRef
from bot.workflow.pace import PACE_AT_ONCE as AT_ONCE
from bot.workflow.pace import Pace
from storage.domain import NewInvoice
from storage.states import InvoiceStatus as IS
from storage.states import RequestStatus as RS

INVOICES = int(os.environ.get("BENCH_RECONCILE", "400"))
LATENCY_S = float(os.environ.get("BENCH_RECONCILE_LATENCY_S", "0.02"))
PER_REQUEST = 50
COMMAND = "make bench  (python -m benchmarks reconcile; BENCH_RECONCILE, " \
    "BENCH_RECONCILE_LATENCY_S to scale)"


def _cancelled_log(stage: Stage) -> None:
    """INVOICES invoices in completed cancellations, their facts on record."""
    store, book, state = stage.runtime.store, stage.pac.book, stage.pac.state
    refs = [InvoiceRef(uuid=f"{n:08X}-3333-4333-F000-{n:012X}") for n in range(1, INVOICES + 1)]
    for start in range(0, len(refs), PER_REQUEST):
        chunk = refs[start:start + PER_REQUEST]
        with store.transaction() as tx:
            request_id = tx.create_request(
                kind="cancel", requester=Actor("U0BENCH", "bench"), reason="02",
                justification="benchmark", invoices=[
                    NewInvoice(ref_key=r.key, uuid=r.uuid)
                    for r in chunk])
            for status in (RS.APPROVED, RS.SUBMITTING, RS.SUBMITTED, RS.COMPLETED):
                tx.transition("request", request_id, status, SYSTEM)
            for row, ref in zip(tx.request_invoices(request_id), chunk, strict=True):
                assert ref.uuid is not None
                facts = {"invoice": book.get(ref.uuid).model_dump(mode="json")}
                tx.transition("invoice", row["id"], IS.CANCELED, SYSTEM,
                              fields={"facts": json.dumps(facts)})
                state.cancel_elsewhere(ref.uuid)  # the SAT shows it cancelled


async def _lateness(seconds: float | None, until: asyncio.Future[object] | None = None
                    ) -> float:
    """The longest lateness of a 1 ms sleep, for `seconds` or until `until` is done."""
    worst, began = 0.0, time.perf_counter()
    while (until is None and time.perf_counter() - began < (seconds or 0)) or \
            (until is not None and not until.done()):
        before = time.perf_counter()
        await asyncio.sleep(0.001)
        worst = max(worst, time.perf_counter() - before - 0.001)
    return worst


async def _run(stage: Stage, at_once: int) -> tuple[float, float]:
    facts = stage.runtime.services.facts
    assert facts is not None
    facts.pace = Pace(large_at=1, at_once=at_once)
    start = time.perf_counter()
    run = asyncio.ensure_future(stage.runtime.watcher.reconciler.run())
    late = await _lateness(None, run)
    done = await run
    assert done.answered == INVOICES and not done.found, (done.answered, done.found)
    return time.perf_counter() - start, late


async def _measure(folder: Path) -> None:
    stage = await Stage.open(folder / "reconcile.db", sat_confirm_h=72)
    try:
        assert stage.sat is not None
        stage.sat.delay_s = LATENCY_S
        _cancelled_log(stage)
        first, first_late = await _run(stage, AT_ONCE)   # the SAT client's first calls
        bounded, late = await _run(stage, AT_ONCE)
        serial, _ = await _run(stage, 1)
        idle = await _lateness(1.0)
    finally:
        await stage.close()
    print(f"  {INVOICES} cancelled invoices, the SAT answering in {LATENCY_S * 1000:g} ms each:")
    print(f"    {AT_ONCE} asks at once: {bounded:.2f} s; baseline, one after another: "
          f"{serial:.2f} s; {serial / bounded:.1f}x sooner")
    print(f"    longest loop lateness during a run: {late * 1000:.1f} ms (the first run, "
          f"{first:.2f} s: {first_late * 1000:.1f} ms); idle baseline {idle * 1000:.1f} ms")


def main() -> None:
    print("== the daily reconciliation with the SAT")
    print(f"   command: {COMMAND}")
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_measure(Path(folder)))

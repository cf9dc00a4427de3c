"""A month-end list as a file: the cancel form with a 5,000-row CSV attached, through the
real flow (signed requests into the bot, the Slack stand-in, a real SQLite file).

1. The form's answer (ack) with the file attached (answered "checking"; the file is read
   after the answer), beside the same form with one typed invoice and no file (checked and
   written in the answer), interleaved.
2. Validated and recorded: from the submission until the request and its 5,000 invoices are
   written (the modal says "registrada"), beside reading the same file with the csv module
   alone, the floor of any reading; and the parts: reading into rows (bot.invoice_lists),
   checking every row against the others and the live requests.

Several runs each way; the median and the spread (min-max) are printed, never the best.
The invoices' lookups are off (they start after the card, and are measured by `facts`).
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.standins import NoLookups
from bot.invoice_lists.entries import Listed, checked
from bot.sandbox.stage import FINANCE, Stage
from bot.sat.reasons import CancelReason
from bot.slack.invoice_files import _parse

ROWS = int(os.environ.get("BENCH_BULK_FILE_ROWS", "5000"))
RUNS = int(os.environ.get("BENCH_BULK_FILE_RUNS", "5"))
COMMAND = ("make bench  (python -m benchmarks bulk_file; BENCH_BULK_FILE_ROWS, "
           "BENCH_BULK_FILE_RUNS to scale)")
_SERIAL = itertools.count(1)


def _uuid() -> str:
    n = next(_SERIAL)
    return f"{n:08X}-3333-4333-F021-{n:012X}"  # new invoices each time, plain cancellations


def month_end(rows: int) -> bytes:
    """A list as Excel saves "CSV UTF-8": the invoice, its reason, its replacement."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["Folio fiscal", "Motivo", "Sustitución", "Cliente"])
    for n in range(rows):
        reason = "0" + "1234"[n % 4]
        writer.writerow([_uuid(), reason, _uuid() if reason == "01" else "",
                         f"Cliente {n % 97}, S.A. de C.V."])
    return ("\ufeff" + out.getvalue()).encode()




def spread(values: list[float]) -> str:
    return (f"{statistics.median(values) * 1000:8.1f} ms  "
            f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})")


async def _one(stage: Stage, file: bytes | None) -> tuple[float, float]:
    """(ack, until recorded) of one form: with `file` attached, or one typed invoice."""
    driver = stage.driver
    await driver.command("U0ANA", "cancelar", FINANCE)
    await stage.settle()
    view = driver.last_view()
    fields = {"invoices": "" if file else _uuid(), "reason": "02",
              "justification": "Cierre de mes",
              "xml_files": [driver.attach("U0ANA", "cierre.csv", file)] if file else []}
    start = time.perf_counter()
    answer = await driver.submit_view("U0ANA", view, fields)
    acked = time.perf_counter() - start
    assert answer.status_code == 200, answer.text
    while file and "Solicitud registrada" not in json.dumps(stage.slack.views[view["id"]],
                                                            ensure_ascii=False):
        await asyncio.sleep(0.002)
    recorded = time.perf_counter() - start
    await stage.settle()  # the card posted: the next form starts quiet
    return acked, recorded


async def _flow(folder: Path) -> None:
    stage = await Stage.open(folder / "bulk-file.db", watch_backoff_s=[3600],
                             max_invoices=max(ROWS, 1))
    stage.runtime.services.lifecycle.facts = NoLookups()  # lookups measured by `facts`
    acks: dict[str, list[float]] = {"file": [], "plain": []}
    recorded: list[float] = []
    floor: list[float] = []
    parsed: list[float] = []
    checks: list[float] = []
    try:
        for _ in range(RUNS):  # interleaved, so that noise falls on both alike
            content = month_end(ROWS)
            acked, done = await _one(stage, content)
            acks["file"].append(acked)
            recorded.append(done)
            acks["plain"].append((await _one(stage, None))[0])
            start = time.perf_counter()
            rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
            floor.append(time.perf_counter() - start)
            assert len(rows) == ROWS + 1
            start = time.perf_counter()
            _, _, listed = _parse("cierre.csv", month_end(ROWS), ROWS, "es")
            parsed.append(time.perf_counter() - start)
            items = [row for _, row in listed if isinstance(row, Listed)]
            start = time.perf_counter()
            assert not checked(items, reason=CancelReason.WITHOUT_RELATION, replacement=None,
                               active=stage.runtime.services.lifecycle.active_elsewhere,
                               lang="es", row=True)
            checks.append(time.perf_counter() - start)
    finally:
        await stage.close()
    base = statistics.median(acks["plain"])
    print(f"  the cancel form's answer, {RUNS} runs each (median, spread):")
    print(f"    with a {ROWS:,}-row CSV attached: {spread(acks['file'])}"
          f"  = {statistics.median(acks['file']) / base:.2f}x the plain form")
    print(f"    plain form, one typed invoice:   {spread(acks['plain'])}")
    floor_median = statistics.median(floor)
    print(f"  {ROWS:,} rows validated and recorded (submission -> request written):")
    print(f"    through the bot:                 {spread(recorded)}"
          f"  = {statistics.median(recorded) / floor_median:.0f}x the csv module alone")
    print(f"    the csv module alone (baseline): {spread(floor)}")
    print(f"    of which reading into rows:      {spread(parsed)}")
    print(f"    of which checking every row:     {spread(checks)}")


def main() -> None:
    print("== a list of invoices as a file")
    print(f"   command: {COMMAND}")
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_flow(Path(folder)))

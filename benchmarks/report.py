"""The monthly report over a month of REPORT_INVOICES invoices (default 10,000): the figures,
the chart and the XLSX made (bot.reporting.service.make, and as the bot makes them: by its
worker process) beside a plain SQL aggregate over the same file
(storage.reporting.plain_aggregate), each several times, in the same run; the ack of
`/cfdi reporte` beside the ack of `/cfdi ayuda` on the bot holding that month; and the ack of
`/cfdi ayuda` while a report is being made beside the same ack idle.

The month is written straight into a Stage's audit file (bot.sandbox.month.fill_month: the
rows and events the flow writes), 10 invoices a request, spread over November 2026.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.reporting.months import Month
from bot.reporting.service import make
from bot.sandbox.month import fill_month
from bot.sandbox.stage import FINANCE, Stage
from storage import reporting

INVOICES = int(os.environ.get("REPORT_INVOICES", "10000"))
RUNS = int(os.environ.get("REPORT_RUNS", "5"))
ACKS = int(os.environ.get("REPORT_ACKS", "20"))
MONTH = Month(2026, 11)
COMMAND = "python -m benchmarks report  (REPORT_INVOICES, REPORT_RUNS, REPORT_ACKS to scale)"
def _times(work: Callable[[], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        out.append(time.perf_counter() - began)
    return out


async def _acks(stage: Stage, text: str) -> list[float]:
    out = []
    for _ in range(ACKS):
        began = time.perf_counter()
        answer = await stage.driver.command("U0BETO", text, FINANCE)
        out.append(time.perf_counter() - began)
        assert answer.status_code == 200
        await stage.settle()  # the report's work ends before the next ack is timed
    return out


async def _acks_while_reporting(stage: Stage) -> tuple[list[float], int]:
    """`/cfdi ayuda` answered while a report is being made after its ack (the work in a
    worker thread): the acks timed, and how many came before the report was out."""
    out, reports = [], len(stage.slack.dms("U0BETO"))
    await stage.driver.command("U0BETO", "reporte 2026-11", FINANCE)
    during = 0
    for _ in range(ACKS):
        began = time.perf_counter()
        answer = await stage.driver.command("U0BETO", "ayuda", FINANCE)
        out.append(time.perf_counter() - began)
        assert answer.status_code == 200
        during += len(stage.slack.dms("U0BETO")) == reports
        await asyncio.sleep(0.05)  # a person's pace: 20 commands a second
    await stage.settle()
    return out, during


def _spread(values: list[float], unit: float = 1.0) -> str:
    shown = sorted(v * unit for v in values)
    return (f"median {statistics.median(shown):.1f}, min {shown[0]:.1f}, "
            f"max {shown[-1]:.1f}")


async def _measure(folder: Path) -> None:
    stage = await Stage.open(folder / "report.db")
    try:
        began = time.perf_counter()
        await fill_month(stage.runtime.store, stage.pac.book, INVOICES)
        filled = time.perf_counter() - began
        store, settings = stage.runtime.store, stage.settings
        start, end = MONTH.bounds(settings.zone)
        plain = _times(lambda: reporting.plain_aggregate(store, start, end), RUNS)
        made = _times(lambda: make(store, MONTH, lang=settings.language, zone=settings.zone), RUNS)
        report = make(store, MONTH, lang=settings.language, zone=settings.zone).report
        assert report.total_invoices == INVOICES, report.total_invoices
        produced = []
        for _ in range(RUNS):  # as the bot makes it: its worker process, start included
            began = time.perf_counter()
            await stage.runtime.services.reports.produce(MONTH)
            produced.append(time.perf_counter() - began)
        help_acks = await _acks(stage, "ayuda")
        report_acks = await _acks(stage, "reporte 2026-11")
        help_acks += await _acks(stage, "ayuda")  # before and after, for drift
        busy, during = await _acks_while_reporting(stage)
    finally:
        await stage.close()
    print(f"  a month of {INVOICES} invoices ({filled:.1f} s to write):")
    print(f"    plain SQL aggregate: {_spread(plain, 1000)} ms ({RUNS} runs)")
    print(f"    report + chart + XLSX + CSV: {_spread(made, 1000)} ms ({RUNS} runs); "
          f"{statistics.median(made) / statistics.median(plain):.0f}x the aggregate")
    print(f"    the same by the bot's worker process (its start included): "
          f"{_spread(produced, 1000)} ms ({RUNS} runs)")
    print(f"    ack of /cfdi ayuda: {_spread(help_acks, 1000)} ms ({len(help_acks)}); "
          f"/cfdi reporte: {_spread(report_acks, 1000)} ms ({len(report_acks)}); "
          f"ratio of medians {statistics.median(report_acks) / statistics.median(help_acks):.2f}")
    print(f"    ack of /cfdi ayuda while a report is made ({during} of {len(busy)} before it "
          f"was out): {_spread(busy, 1000)} ms; ratio of medians to idle "
          f"{statistics.median(busy) / statistics.median(help_acks):.2f}")


def main() -> None:
    print("== the monthly report")
    print(f"   command: {COMMAND}")
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_measure(Path(folder)))


if __name__ == "__main__":
    main()

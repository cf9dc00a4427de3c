"""`python -m bot report` writes the month's files; the month's figures, business days and
the send time; the chart's size and the spreadsheet's neutralised cells."""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from bot.config import Settings
from bot.reporting import chart
from bot.reporting.figures import Spread, rank
from bot.reporting.months import Month, due, first_business_day, last_closed, send_time
from bot.sandbox.invoices import SandboxBook
from bot.sandbox.month import fill_month
from storage.store import AuditStore

ZONE = ZoneInfo("America/Mexico_City")


def test_months_business_days_and_the_send_time() -> None:
    assert Month.parse("2026-11") == Month(2026, 11) and str(Month(2026, 1)) == "2026-01"
    for bad in ("2026-13", "2026-00", "26-11", "noviembre", "2026-11-01", "1999-12"):
        assert Month.parse(bad) is None
    assert Month(2026, 1).previous() == Month(2025, 12) and Month(2025, 12).next() == \
        Month(2026, 1)
    start, end = Month(2026, 11).bounds(ZONE)
    assert (start, end) == (datetime(2026, 11, 1, 6, tzinfo=UTC),
                            datetime(2026, 12, 1, 6, tzinfo=UTC))
    assert last_closed(datetime(2026, 12, 1, 5, tzinfo=UTC), ZONE) == Month(2026, 10)
    calendar = Settings(_env_file=None, extra_holidays="2026-12-01").calendar
    assert first_business_day(Month(2026, 11), calendar) == date(2026, 11, 2)  # Nov 1: Sunday
    assert first_business_day(Month(2026, 8), calendar) == date(2026, 8, 3)   # Saturday
    assert first_business_day(Month(2027, 1), calendar) == date(2027, 1, 4)   # Jan 1: holiday
    assert first_business_day(Month(2027, 2), calendar) == date(2027, 2, 2)   # Constitution
    assert first_business_day(Month(2026, 12), calendar) == date(2026, 12, 2)  # a day off
    assert send_time(Month(2026, 10), 8.5, ZONE, calendar) == \
        datetime(2026, 11, 2, 8, 30, tzinfo=ZONE)
    assert due(datetime(2026, 11, 2, 14, 29, tzinfo=UTC), 8.5, ZONE, calendar) == \
        Month(2026, 9)
    assert due(datetime(2026, 11, 2, 14, 30, tzinfo=UTC), 8.5, ZONE, calendar) == \
        Month(2026, 10)


def test_percentiles_by_nearest_rank() -> None:
    assert rank([1.0], 0.9) == 1.0
    assert Spread.of([5, 1, 4, 2, 3, 6, 7, 8, 9, 10]) == Spread(10, 5, 9)
    assert Spread.of([]) == Spread(0, None, None)


def test_the_command_line_writes_the_months_files(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    store = AuditStore.open(path)
    asyncio.run(fill_month(store, SandboxBook(), 200))
    store.close()
    out = tmp_path / "out"
    env = {**os.environ, "AUDIT_DB": str(path), "TIMEZONE": "America/Mexico_City",
           "LANGUAGE": "en"}
    done = subprocess.run([sys.executable, "-m", "bot", "report", "--month", "2026-11",
                           "--output", str(out)], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["reporte-cfdi-2026-11.csv", "reporte-cfdi-2026-11.png",
                     "reporte-cfdi-2026-11.xlsx"]
    assert all(f"Wrote {out / n}" in done.stdout for n in names)
    png = (out / "reporte-cfdi-2026-11.png").read_bytes()
    assert struct.unpack(">II", png[16:24]) == (chart.WIDTH_PX, chart.HEIGHT_PX)
    rows = list(load_workbook(out / "reporte-cfdi-2026-11.xlsx", read_only=True)
                .active.iter_rows(values_only=True))
    assert rows[0][0] == "Request" and len(rows) == 201
    bad = subprocess.run([sys.executable, "-m", "bot", "report", "--month", "11-2026",
                          "--output", str(out)], env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert bad.returncode == 2 and bad.stderr.strip() == "--month must be YYYY-MM, e.g. 2026-11."


def test_the_worker_says_why_it_could_not_make_a_report(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bot.reporting.worker",
                           str(tmp_path / "missing.db"), "2026-11", str(tmp_path / "out"),
                           "--timezone", "America/Mexico_City",
                           "--made-at", "2026-12-01T12:00:00+00:00"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "no audit file at" in done.stderr
    assert not (tmp_path / "missing.db").exists()  # nothing created


def test_the_report_lists_every_invoice_status() -> None:
    """A status added later (withdrawn, with issue 22) is listed too, not left out."""
    from bot.slack.render import report
    from storage.states import InvoiceStatus

    assert sorted(report._ORDER) == sorted(InvoiceStatus)
    assert len(report._ORDER) == len(set(report._ORDER))

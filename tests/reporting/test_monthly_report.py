"""The controller's monthly report, from a month of requests made through the real flow (the
stand-ins): every figure checked against the database, the XLSX read back with openpyxl, the
chart a PNG of the expected size; permission refused and audited; and the report sent
without asking, once per month across restarts."""

from __future__ import annotations

import asyncio
import io
import json
import math
import struct
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bot.reporting import chart
from bot.reporting.months import Month
from bot.reporting.service import WorkerFailed, make
from bot.sandbox.stage import FINANCE, Stage
from bot.sat.cfdi import CfdiType
from bot.slack.render.kit import REJECT_ACTION
from storage import queries
from tests.helpers import card_of, click, texts, uuid_with

MONTH = Month(2026, 11)
REPORTERS = ["U0ANA"]


class Clock:
    """The store's clock, moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def open_stage(path: Path, clock: Clock, **settings: Any) -> Stage:
    stage = await Stage.open(path, resolve_after_s=0.5, reporters=REPORTERS, **settings)
    stage.runtime.store.clock = clock
    return stage


@pytest.fixture
async def month(tmp_path: Path) -> AsyncIterator[tuple[Stage, Clock]]:
    """November 2026 in Mexico City: three cancellations that reach the provider, one
    rejected, one still awaiting approval; one request in October and one in December
    that the report must leave out."""
    clock = Clock(datetime(2026, 10, 31, 12, tzinfo=UTC))
    stage = await open_stage(tmp_path / "audit.db", clock)
    try:
        await build_month(stage, clock)
        yield stage, clock
    finally:
        await stage.close()


def priced(stage: Stage, code: str, seed: int, total: str, currency: str = "MXN",
           rate: str | None = None, rfc: str = "URE180429TM6", name: str = "UNIVERSIDAD"
           ) -> str:
    uuid = uuid_with(code, seed)
    facts = stage.pac.book.get(uuid)
    stage.pac.book.issue(facts.model_copy(update={
        "total": total, "currency": currency, "exchange_rate": rate, "receiver_rfc": rfc,
        "receiver_name": name, "type": CfdiType.EGRESO}))
    return uuid


async def build_month(stage: Stage, clock: Clock) -> None:
    # October 31st, noon UTC: still October in Mexico City, left out.
    await card_of(stage, lines=[priced(stage, "000", 90, "5.00")])
    clock.now = datetime(2026, 11, 3, 16, tzinfo=UTC)  # a Tuesday
    first = await card_of(stage, lines=[
        priced(stage, "000", 1, "1000.00"),
        priced(stage, "000", 2, "100.00", "USD", "18.50", rfc="XEXX010101000",
               name="=HYPERLINK(\"http://x\")"),
        priced(stage, "000", 3, "50.00", "USD")])      # no exchange rate: amount unknown
    clock.move(hours=2)
    await click(stage, "U0BETO", first)
    clock.now = datetime(2026, 11, 17, 18, tzinfo=UTC)
    second = await card_of(stage, reason="03", lines=[
        priced(stage, "000", 4, "300.00"), uuid_with("204", 5), uuid_with("211", 6)])
    clock.move(minutes=30)
    await click(stage, "U0CARLA", second)
    clock.move(hours=1)
    third = await card_of(stage, reason="04", lines=[priced(stage, "000", 7, "10.00")])
    clock.move(hours=1)
    answer = await stage.driver.click("U0BETO", third.channel, third.ts, REJECT_ACTION)
    assert answer.status_code == 200
    await stage.settle()
    await stage.driver.submit_view("U0BETO", stage.driver.last_view(),
                                   {"reject_reason": "No procede"})
    await stage.settle()
    clock.now = datetime(2026, 11, 30, 23, tzinfo=UTC)  # 17:00 in Mexico City
    await card_of(stage, lines=[priced(stage, "000", 8, "20.00")])  # awaiting approval
    clock.now = datetime(2026, 12, 1, 5, tzinfo=UTC)  # 23:00 on Nov 30th in Mexico City
    await card_of(stage, lines=[priced(stage, "000", 9, "40.00")])
    clock.now = datetime(2026, 12, 1, 7, 30, tzinfo=UTC) + timedelta(hours=6)  # December
    await card_of(stage, lines=[priced(stage, "000", 91, "7.00")])


def seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end[:-1]) - datetime.fromisoformat(start[:-1])) \
        .total_seconds()


def db_rows(stage: Stage, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    return list(stage.runtime.store.db.query(sql, params or []))


NOVEMBER = ["2026-11-01T06:00:00.000000Z", "2026-12-01T06:00:00.000000Z"]  # CST is UTC-6


def expected(stage: Stage) -> dict[str, Any]:
    """The month's figures read straight from the database, apart from the report's code."""
    invoices = db_rows(stage, "SELECT i.*, r.reason FROM invoices i JOIN requests r ON "
                       "r.id = i.request_id WHERE r.created_at >= ? AND r.created_at < ?",
                       NOVEMBER)
    amount, unknown = Decimal(0), 0
    for row in invoices:
        if row["status"] != "canceled":
            continue
        facts = json.loads(row["facts"])["invoice"]
        if facts["currency"] == "MXN":
            amount += Decimal(facts["total"])
        elif facts.get("exchange_rate"):
            amount += Decimal(facts["total"]) * Decimal(facts["exchange_rate"])
        else:
            unknown += 1
    by_status: dict[str, dict[str, int]] = {}
    for row in invoices:
        counts = by_status.setdefault(row["status"], {})
        counts[row["reason"]] = counts.get(row["reason"], 0) + 1
    requests = {r["status"]: r["n"] for r in db_rows(
        stage, "SELECT status, count(*) AS n FROM requests WHERE created_at >= ? AND "
        "created_at < ? GROUP BY status", NOVEMBER)}
    return {"invoices": invoices, "amount": amount, "unknown": unknown,
            "by_status": by_status, "requests": requests}


async def test_every_figure_matches_the_database(month: tuple[Stage, Clock]) -> None:
    stage, _ = month
    made = make(stage.runtime.store, MONTH, lang="es", zone=stage.settings.zone)
    report, want = made.report, expected(stage)
    assert report.requests == want["requests"]
    assert sum(want["requests"].values()) == 5
    assert {s: {r: n for r, n in c.items() if n} for s, c in report.invoices.items()} \
        == want["by_status"]
    assert report.total_invoices == len(want["invoices"]) == 9
    assert report.cancelled == sum(1 for i in want["invoices"] if i["status"] == "canceled")
    assert report.amount_mxn == want["amount"] == Decimal("1000.00") + Decimal("1850.00") \
        + Decimal("300.00")
    assert report.amount_unknown == want["unknown"] == 1
    # The customers: by cancelled invoices, most first.
    customers: dict[str, int] = {}
    for row in want["invoices"]:
        if row["status"] == "canceled":
            rfc = json.loads(row["facts"])["invoice"]["receiver_rfc"]
            customers[rfc] = customers.get(rfc, 0) + 1
    assert [(c.rfc, c.invoices) for c in report.customers] == sorted(
        customers.items(), key=lambda kv: -kv[1]) == [("URE180429TM6", 3), ("XEXX010101000", 1)]
    # Times: request -> approval, from the events; every approved request counted once.
    approvals = db_rows(stage, "SELECT r.created_at, min(e.at) AS at FROM requests r JOIN "
                        "events e ON e.request_id = r.id AND e.action = 'request_approved' "
                        "WHERE r.created_at >= ? AND r.created_at < ? GROUP BY r.id", NOVEMBER)
    took = sorted(seconds(a["created_at"], a["at"]) for a in approvals)
    assert report.spreads["approval"].count == len(took) == 2
    assert report.spreads["approval"].median_s == took[0] == 1800  # nearest rank of two
    assert report.spreads["approval"].p90_s == took[1] == 7200
    # Approval -> the provider's first answer, and -> the SAT's confirmation, per invoice.
    for step, condition in (("provider", "e.action = 'provider_answered'"),
                            ("sat", "json_extract(e.details, '$.to') = 'canceled'")):
        rows = db_rows(stage, f"""
            SELECT min(e.at) AS at, (SELECT min(a.at) FROM events a WHERE a.request_id =
              i.request_id AND a.action = 'request_approved') AS approved
            FROM invoices i JOIN requests r ON r.id = i.request_id
            JOIN events e ON e.request_id = i.request_id AND e.invoice_ref = i.ref_key
            WHERE r.created_at >= ? AND r.created_at < ? AND {condition}
            GROUP BY i.id""", NOVEMBER)
        took = sorted(seconds(row["approved"], row["at"]) for row in rows)
        spread = report.spreads[step]
        assert spread.count == len(took) > 0, step
        assert (spread.median_s, spread.p90_s) == (
            took[math.ceil(len(took) / 2) - 1], took[math.ceil(len(took) * 0.9) - 1]), step
    assert report.spreads["provider"].count == 6  # every invoice of the approved requests
    # Still open: the pending invoice and the request awaiting approval.
    open_rows = [i for i in want["invoices"] if i["status"] in
                 ("requested", "pending", "awaiting_sat")]
    assert report.open_total == len(open_rows) >= 2
    assert {item.ref for item in report.open_items} == {r["ref_key"] for r in open_rows}
    # One week of the chart per Monday-to-Sunday span, the cancelled counted by reason.
    assert sum(sum(w.cancelled.values()) for w in report.weeks) == report.cancelled
    assert sum(w.amount for w in report.weeks) == report.amount_mxn


async def test_the_command_sends_the_report_chart_and_spreadsheet(
        month: tuple[Stage, Clock]) -> None:
    stage, _ = month
    answer = await stage.driver.command("U0ANA", "reporte 2026-11", FINANCE)
    assert answer.status_code == 200
    assert "Preparando el reporte de 2026-11" in answer.json()["text"]
    await stage.settle()
    (message,) = stage.slack.dms("U0ANA")[-1:]
    shown = texts(message)
    want = expected(stage)
    assert "Reporte de cancelaciones — 2026-11" in shown
    assert "*Solicitudes: 5*" in shown and "*Facturas: 9*" in shown
    assert f"*Monto cancelado: ${want['amount']:,.2f} MXN*" in shown
    assert "⚠️ 1 factura(s) cancelada(s) fuera del monto" in shown
    assert "• De la solicitud a la aprobación: 30 min · 2.0 h · 2" in shown
    assert "• UNIVERSIDAD (URE180429TM6): 3 factura(s), $1,300.00 MXN" in shown
    assert f"`{uuid_with('211', 6)}` — Pendiente desde" in shown
    assert "*Aún abiertas: 3*" in shown  # the pending invoice, two awaiting approval
    files = {u["filename"]: u for u in stage.slack.uploads.values()
             if u["filename"].startswith("reporte-")}
    assert set(files) == {"reporte-cfdi-2026-11.png", "reporte-cfdi-2026-11.xlsx",
                          "reporte-cfdi-2026-11.csv"}
    assert {u["channel"] for u in files.values()} == {"DU0ANA"}  # only the person who asked
    png = files["reporte-cfdi-2026-11.png"]["content"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (chart.WIDTH_PX, chart.HEIGHT_PX)
    book = load_workbook(io.BytesIO(files["reporte-cfdi-2026-11.xlsx"]["content"]),
                         read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert header[0] == "Solicitud" and len(body) == 9
    uuids = {row[header.index("UUID")] for row in body}
    for invoice in want["invoices"]:
        assert invoice["uuid"] in uuids
    by_uuid = {row[header.index("UUID")]: row for row in body}
    usd = by_uuid[uuid_with("000", 2)]
    assert usd[header.index("Total MXN")] == 1850.0
    assert usd[header.index("Moneda")] == "USD"
    assert usd[header.index("Cliente")] == "'=HYPERLINK(\"http://x\")"  # neutralised
    assert usd[header.index("Aprobada por")] == "beto.ruiz"
    assert by_uuid[uuid_with("000", 3)][header.index("Total MXN")] is None
    csv_text = files["reporte-cfdi-2026-11.csv"]["content"].decode("utf-8-sig")
    assert all(u in csv_text for u in uuids)
    (made,) = [e for e in queries.events(stage.runtime.store) if e["action"] == "report_made"]
    assert made["actor_id"] == "U0ANA" and json.loads(made["details"])["month"] == "2026-11"


async def test_asking_again_while_it_is_made_joins_it(month: tuple[Stage, Clock]) -> None:
    """Twelve asks at once make one report (one worker process), not twelve."""
    stage, _ = month
    dms_before = len(stage.slack.dms("U0ANA"))  # the month's own DMs to the requester
    answers = await asyncio.gather(*[stage.driver.command("U0ANA", "reporte 2026-11", FINANCE)
                                     for _ in range(12)])
    said = [a.json()["text"] for a in answers]
    assert sum("Preparando el reporte de 2026-11" in s for s in said) == 1
    assert sum("Ya se está preparando tu reporte de 2026-11" in s for s in said) == 11
    await stage.settle()
    made = [e for e in queries.events(stage.runtime.store) if e["action"] == "report_made"]
    assert len(made) == 1 and len(stage.slack.dms("U0ANA")) == dms_before + 1
    answer = await stage.driver.command("U0ANA", "reporte 2026-11", FINANCE)  # made: again
    assert "Preparando el reporte de 2026-11" in answer.json()["text"]


async def test_the_last_closed_month_by_default_and_a_bad_month(
        month: tuple[Stage, Clock]) -> None:
    stage, clock = month
    clock.now = datetime(2026, 12, 2, 18, tzinfo=UTC)
    answer = await stage.driver.command("U0BETO", "report", FINANCE)  # an approver
    assert "Preparando el reporte de 2026-11" in answer.json()["text"]
    await stage.settle()
    assert "Reporte de cancelaciones — 2026-11" in texts(stage.slack.dms("U0BETO")[-1])
    for text, words in (("reporte 2026-13", "AAAA-MM"), ("reporte noviembre", "AAAA-MM"),
                        ("reporte 2027-01", "aún no empieza")):
        answer = await stage.driver.command("U0BETO", text, FINANCE)
        assert words in answer.json()["text"]


async def test_others_are_refused_and_audited(month: tuple[Stage, Clock]) -> None:
    stage, _ = month
    before = len(stage.slack.uploads)  # the acuses of the month
    answer = await stage.driver.command("U0DIEGO", "reporte 2026-11", FINANCE)
    assert "Solo los aprobadores y las personas en REPORTERS" in answer.json()["text"]
    await stage.settle()
    assert len(stage.slack.uploads) == before and not stage.slack.dms("U0DIEGO")
    refused = [e for e in queries.events(stage.runtime.store)
               if e["action"] == "refused_not_reporter"]
    assert [e["actor_id"] for e in refused] == ["U0DIEGO"]


async def test_the_report_is_sent_once_per_month_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    clock = Clock(datetime(2026, 11, 10, 16, tzinfo=UTC))
    stage = await open_stage(path, clock, report_channel=FINANCE, report_hour=8.5)
    try:
        await card_of(stage, lines=[priced(stage, "000", 1, "1000.00")])
        reports = stage.runtime.services.reports
        # Tuesday December 1st, 08:00 in Mexico City: before REPORT_HOUR (08:30). October's
        # report had its time (Monday November 2nd): missed, so sent now.
        clock.now = datetime(2026, 12, 1, 14, tzinfo=UTC)
        assert await reports.scheduled() == 1800  # until 08:30
        posted = stage.slack.channel_messages(FINANCE)
        assert [texts(m).splitlines()[0] for m in posted] == [
            "Reporte de cancelaciones — 2026-10"]
        clock.move(minutes=30)
        stage.slack.fail("chat.postMessage", "fatal_error")  # Slack refuses it once
        assert await reports.scheduled() == 600  # tried again later
        assert len(stage.slack.channel_messages(FINANCE)) == 1
        assert await reports.scheduled() == 6 * 3600  # the next is in January
        posted = stage.slack.channel_messages(FINANCE)
        assert len(posted) == 2 and "*Solicitudes: 1*" in texts(posted[-1])
        assert await reports.scheduled() == 6 * 3600
        assert len(stage.slack.channel_messages(FINANCE)) == 2
        assert {u["channel"] for u in stage.slack.uploads.values()
                if u["filename"].startswith("reporte-")} == {FINANCE}
    finally:
        await stage.close()
    # A restart on the same file: November's report is not sent again.
    again = await open_stage(path, clock, report_channel=FINANCE, report_hour=8.5)
    try:
        await again.runtime.services.reports.scheduled()
        assert again.slack.channel_messages(FINANCE) == []
        sent = [json.loads(e["details"])["month"] for e in queries.events(again.runtime.store)
                if e["action"] == "report_sent"]
        assert sent == ["2026-10", "2026-11"]
    finally:
        await again.close()


async def test_a_report_that_could_not_be_made_is_tried_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(datetime(2026, 12, 1, 15, tzinfo=UTC))
    stage = await open_stage(tmp_path / "audit.db", clock, report_channel=FINANCE)
    try:
        reports = stage.runtime.services.reports

        async def broken(month: Month) -> None:
            raise WorkerFailed("MemoryError")

        monkeypatch.setattr(reports, "produce", broken)
        assert await reports.scheduled() == 600
        assert stage.slack.channel_messages(FINANCE) == []
        monkeypatch.undo()
        assert await reports.scheduled() == 6 * 3600
        assert len(stage.slack.channel_messages(FINANCE)) == 1
    finally:
        await stage.close()

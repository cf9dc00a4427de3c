"""A request of 1,000 invoices end to end through the stand-ins: the card summarises (counts by
status and reason, the total in MXN, the largest customers, the first invoices) and its full
list reaches the thread as a CSV; the provider's answer and the SAT's confirmations are
summarised replies, each with the CSV of what changed; `/cfdi estado #N` and the card's
button give the current CSV by DM. The Slack stand-in refuses what Slack refuses (50 blocks a
message, 3,000 characters a section), so every message here is one Slack would take."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.actors import Actor
from bot.sandbox.block_kit import MESSAGE_BLOCKS, SECTION_TEXT
from bot.sandbox.slack_server import Message
from bot.sandbox.stage import APPROVALS, FINANCE, Stage
from bot.sat.reasons import CancelReason
from bot.sat.refs import InvoiceRef
from bot.slack.forms import CancelForm
from bot.slack.render.large import CSV_ACTION, changes_csv, invoices_csv
from storage import chain
from storage.domain import ThreadLine
from tests.helpers import actions, click, texts, uuid_with

COUNT = 1_000
ANA = Actor("U0ANA", "Ana")


def code(n: int) -> str:
    """Mostly direct cancellations; every tenth not cancellable, every tenth awaits the
    receiver."""
    return {0: "204", 1: "A11"}.get(n % 10, "000")


@pytest.fixture
async def stage(tmp_path: Path) -> AsyncIterator[Stage]:
    opened = await Stage.open(tmp_path / "audit.db", resolve_after_s=60, max_invoices=COUNT)
    yield opened
    await opened.close()


async def large_request(stage: Stage, count: int = COUNT) -> Message:
    """What the cancel form does once its invoices are checked (the form's own input is
    the other half of issue 21): record the request, post its card, look its invoices up."""
    lifecycle = stage.runtime.services.lifecycle
    form = CancelForm(refs=[InvoiceRef(uuid=uuid_with(code(n), n + 1)) for n in range(count)],
                      reason=CancelReason("02"), replacement=None,
                      justification="Facturación duplicada de noviembre")
    request_id, errors = await lifecycle.record_cancel(ANA, form, source_channel=FINANCE,
                                                       client_key="big-1")
    assert request_id and not errors
    await lifecycle.announce_cancel(request_id, ANA, form, source_channel=FINANCE)
    await stage.settle()
    (card,) = stage.slack.channel_messages(APPROVALS)
    return card


def within_slacks_limits(message: Message) -> None:
    assert len(message.blocks) <= MESSAGE_BLOCKS
    for block in message.blocks:
        text = block.get("text")
        if isinstance(text, dict):
            assert len(text["text"]) <= SECTION_TEXT


def read_csv(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def uploads(stage: Stage, name_part: str) -> list[dict]:
    return [u for u in stage.slack.uploads.values() if name_part in (u["filename"] or "")]


async def test_a_thousand_invoices_read_well_and_stay_within_slacks_limits(
        stage: Stage) -> None:
    card = await large_request(stage)
    shown = texts(stage.slack.message(APPROVALS, card.ts))
    within_slacks_limits(stage.slack.message(APPROVALS, card.ts))
    assert "*Facturas (1000)*" in shown and "*Por estado:* Solicitada 1,000" in shown
    assert "*Por motivo:* 02 — Comprobante emitido con errores sin relación: 1,000" in shown
    book = [stage.pac.book.get(uuid_with(code(n), n + 1)) for n in range(COUNT)]
    total = sum(f.amount for f in book)
    assert f"*Total:* ${total:,.2f} MXN en 1,000 facturas" in shown
    assert "*Clientes con mayor importe:*" in shown and "*Primeras 10 facturas:*" in shown
    listed = [line for line in shown.split("\n") if line.startswith("`")]
    assert len(listed) == 10  # ten invoices listed, not a thousand
    assert "… y 990 más" in shown and "`/cfdi estado #1`" in shown
    assert CSV_ACTION in json.dumps(stage.slack.message(APPROVALS, card.ts).blocks)
    # The full list, in the thread, once its facts are known.
    (listed,) = uploads(stage, "solicitud-1-facturas.csv")
    assert listed["thread_ts"] == card.ts
    rows = read_csv(listed["content"])
    assert len(rows) == COUNT and rows[0]["factura"] == uuid_with(code(0), 1)
    assert rows[0]["cliente"] == book[0].receiver_name and rows[0]["RFC"] == book[0].receiver_rfc
    assert {r["estado SAT"] for r in rows} == {"Vigente"} and {r["motivo"] for r in rows} == {"02"}
    assert {r["resultado"] for r in rows} == {"Solicitada"}

    calls = stage.pac.calls["cancelar"]
    await click(stage, "U0BETO", card)
    thread = stage.slack.thread(APPROVALS, card.ts)
    for message in [stage.slack.message(APPROVALS, card.ts), *thread]:
        within_slacks_limits(message)
    said = "\n".join(texts(m) for m in thread)
    # The provider's answer: 100 not cancellable, 900 received; then the SAT settles the
    # 800 direct ones (the 100 awaiting the receiver stay pending, the watcher follows).
    assert "*Cambios:* Pendiente 900 · No cancelable 100" in said
    assert "*Cambios:* Cancelada 800" in said
    assert sum("más: todas en el CSV que se adjunta a este hilo" in texts(m)
               for m in thread) == 2
    assert len(thread) <= 4  # the approval, two summaries (a message each), not 53 blocks
    # Confirming did not ask the provider once per invoice (docs/provider.md).
    assert stage.pac.calls["cancelar"] - calls == math.ceil(COUNT / 50)
    changes = uploads(stage, "cambios")
    assert [len(read_csv(u["content"])) for u in changes] == [1000, 800]
    assert {r["resultado"] for r in read_csv(changes[1]["content"])} == {"Cancelada"}
    card_now = texts(stage.slack.message(APPROVALS, card.ts))
    assert "*Por estado:* Cancelada 800 · No cancelable 100 · Pendiente 100" in card_now
    assert chain.verify(stage.runtime.store.db).ok


async def test_the_current_csv_by_command_and_by_button(stage: Stage) -> None:
    card = await large_request(stage, 60)
    answer = await stage.driver.command("U0ANA", "estado #1", FINANCE)
    assert "te llega por mensaje directo" in answer.text
    await stage.settle()
    await click(stage, "U0BETO", card, CSV_ACTION)  # an approver, from the card
    dms = [u for u in stage.slack.uploads.values() if u["channel"].startswith("D")]
    assert [u["channel"] for u in dms] == ["DU0ANA", "DU0BETO"]
    assert all(len(read_csv(u["content"])) == 60 for u in dms)
    assert actions(stage).count("csv_shared") == 2
    # Someone who is neither the requester nor an approver is refused, by DM.
    await stage.driver.command("U0DIEGO", "estado #1", FINANCE)
    await stage.settle()
    assert len([u for u in stage.slack.uploads.values() if u["channel"] == "DU0DIEGO"]) == 0
    assert stage.slack.dms("U0DIEGO")


def test_the_csv_neutralises_formulas_and_keeps_each_invoices_reason() -> None:
    facts = {"invoice": {"receiver_name": "=HYPERLINK(\"http://x\")",
                         "receiver_rfc": "XAXX010101000", "total": "100.00", "currency": "MXN"},
             "sat": None}
    request = {"reason": "02", "replacement_uuid": None}
    invoices = [{"ref_key": "A-1", "status": "requested", "facts": json.dumps(facts),
                 "reason": "01", "replacement": "B-2", "detalle": "@SUM(1)"}]
    rows = read_csv(invoices_csv(request, invoices, "es").encode())
    assert rows == [{"factura": "A-1", "cliente": "'=HYPERLINK(\"http://x\")",
                     "RFC": "XAXX010101000", "total": "100.00", "moneda": "MXN",
                     "estado SAT": "", "motivo": "01", "sustituta": "B-2",
                     "resultado": "Solicitada", "detalle": "'@SUM(1)"}]
    changed = read_csv(changes_csv(request, [ThreadLine(ref="A-1", status="canceled")], invoices,
                                   "en").encode())
    assert changed[0]["outcome"] == "Cancelled" and changed[0]["reason"] == "01"

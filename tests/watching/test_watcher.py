"""The watcher over the whole stage: pending invoices followed to their end, in their thread."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.providers.solucion_factible.client import ONE_BY_ONE_AT_ONCE
from bot.sandbox.stage import ADMIN, APPROVALS, Stage
from storage import chain, queries
from tests.helpers import card_of, click, request_row, texts, uuid_with

FAST = {"watch_backoff_s": [0.1], "watch_interval_s": 0.1}


@pytest.fixture
async def stage(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stage]:
    opened = await Stage.open(tmp_path / "audit.db", resolve_after_s=0.5,
                              **{**FAST, **getattr(request, "param", {})})
    yield opened
    await opened.close()


async def submitted(stage: Stage, codes: list[str]) -> str:
    card = await card_of(stage, lines=[uuid_with(code, n) for n, code in enumerate(codes, 1)])
    await click(stage, "U0BETO", card)
    return card.ts


def statuses(stage: Stage) -> list[str]:
    return [i["status"] for i in queries.request_invoices(stage.runtime.store, 1)]


@pytest.mark.parametrize(("code", "first", "final", "words"), [
    ("A11", "en espera de que el receptor acepte", "*Cancelada*", "el receptor aceptó"),
    ("B11", "en espera de que el receptor acepte", "*Rechazada por el receptor*",
     "el proveedor dice: «Solicitud rechazada por el receptor»"),
    ("C11", "en espera de que el receptor acepte", "*Cancelada*", "plazo vencido"),
    ("D11", "aún no llega al SAT", "*Cancelada*", "no requirió aceptación"),
])
async def test_each_resolution_is_one_reply_mentioning_the_requester(
        stage: Stage, code: str, first: str, final: str, words: str) -> None:
    ts = await submitted(stage, [code])
    assert first in texts(stage.slack.thread(APPROVALS, ts)[-1])
    quiet = await stage.runtime.watcher.cycle()  # before the sandbox resolves: no change
    assert quiet.changed == [] and len(stage.slack.thread(APPROVALS, ts)) == 2
    await asyncio.sleep(0.6)
    await stage.runtime.watcher.cycle()
    replies = stage.slack.thread(APPROVALS, ts)
    assert len(replies) == 3
    last = texts(replies[-1])
    assert "<@U0ANA>" in last and final in last and words in last
    assert "La solicitud #1 terminó" in last
    assert request_row(stage)["status"] == "completed"
    await stage.runtime.watcher.cycle()
    assert len(stage.slack.thread(APPROVALS, ts)) == 3  # nothing twice
    assert chain.verify(stage.runtime.store.db).ok


async def test_an_outage_changes_nothing_alerts_once_and_recovers(stage: Stage) -> None:
    ts = await submitted(stage, ["A11", "211"])
    replies = len(stage.slack.thread(APPROVALS, ts))
    events = len(queries.events(stage.runtime.store))
    await asyncio.sleep(0.6)
    stage.pac.down = True
    watcher = stage.runtime.watcher
    delays = []
    for _ in range(4):
        assert (await watcher.cycle()).outage
        delays.append(watcher.delay_s)
    assert delays == sorted(delays) and delays[0] < delays[-1]  # backing off
    assert statuses(stage) == ["pending", "pending"]
    assert len(stage.slack.thread(APPROVALS, ts)) == replies
    outage_events = [e["action"] for e in queries.events(stage.runtime.store)[events:]]
    assert outage_events == ["watcher_outage_alerted"]
    alerts = stage.slack.channel_messages(ADMIN)
    assert len(alerts) == 1 and "no responde" in texts(alerts[0])
    stage.pac.down = False
    await watcher.cycle()
    assert watcher.failed_cycles == 0
    assert statuses(stage) == ["canceled", "pending"]
    assert "volvió a responder" in texts(stage.slack.channel_messages(ADMIN)[-1])
    assert len(stage.slack.channel_messages(ADMIN)) == 2


@pytest.mark.parametrize("stage", [{"pending_alert_h": 0.0001}], indirect=True)
async def test_an_invoice_pending_too_long_is_reported_once_and_still_watched(
        stage: Stage) -> None:
    await submitted(stage, ["211"])
    await asyncio.sleep(0.5)
    for _ in range(3):
        await asyncio.sleep(0.15)  # due again after its 0.1 s backoff
        await stage.runtime.watcher.cycle()
    (alert,) = stage.slack.channel_messages(ADMIN)
    assert uuid_with("211", 1) in texts(alert) and "siguen pendientes" in texts(alert)
    invoice = queries.request_invoices(stage.runtime.store, 1)[0]
    assert invoice["status"] == "pending" and invoice["attempts"] >= 3


@pytest.mark.parametrize("stage", [{"watch_interval_s": 0.05}], indirect=True)
async def test_a_cycle_longer_than_the_interval_never_overlaps_the_next(stage: Stage) -> None:
    await submitted(stage, ["211"])
    stage.pac.delay_s = 0.4  # every provider answer now takes 8 intervals
    asked_before = stage.pac.calls["cancelar"]
    stage.runtime.start_watching()
    await asyncio.sleep(1.5)
    assert stage.pac.calls["cancelar"] - asked_before >= 2  # it kept cycling
    assert stage.pac.most_in_flight == 1                     # one call at a time
    stage.pac.delay_s = 0


@pytest.mark.parametrize("stage", [{"cfdi_batch_size": 3}], indirect=True)
async def test_due_invoices_are_asked_one_by_one_a_few_at_once(stage: Stage) -> None:
    await submitted(stage, ["211"] * 7)
    await asyncio.sleep(0.15)  # due after the 0.1 s backoff
    before = stage.pac.calls["cancelar"]
    stage.pac.most_in_flight = 0
    result = await stage.runtime.watcher.cycle()
    assert result.asked == 7
    # 211 and 213 exist only as a one-invoice call's answer: each is asked alone.
    assert stage.pac.calls["cancelar"] - before == 7
    assert 1 <= stage.pac.most_in_flight <= ONE_BY_ONE_AT_ONCE

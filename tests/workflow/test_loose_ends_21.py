"""Loose ends of the output half (issue 21), each end to end through the stand-ins: an acuse
that first comes with the watcher's answer is uploaded, the SAT down has its own alert, an
older SAT answer never overwrites a newer one on the card, and a failure reply names the
invoices left out of the submission."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.actors import Actor
from bot.providers.solucion_factible.client import PacClient
from bot.sandbox.stage import ADMIN, APPROVALS, Stage
from bot.sat.refs import InvoiceRef
from bot.workflow.answers import submit
from bot.workflow.facts import FactFinder
from bot.workflow.received import confirm_received
from bot.workflow.transitions import approve, create_cancel_request
from storage import queries
from storage.store import AuditStore
from tests.helpers import actions, card_of, click, texts, uuid_with

FAST = {"watch_backoff_s": [0.1], "watch_interval_s": 0.1}


@pytest.fixture
async def stage(tmp_path: Path) -> AsyncIterator[Stage]:
    opened = await Stage.open(tmp_path / "audit.db", resolve_after_s=0.5, **FAST)
    yield opened
    await opened.close()


async def test_an_acuse_first_arriving_with_the_watchers_answer_is_uploaded(
        stage: Stage) -> None:
    card = await card_of(stage, lines=[uuid_with("A11", 1)])
    await click(stage, "U0BETO", card)
    assert not stage.slack.uploads  # awaiting the receiver: the SAT sent no acuse yet
    await asyncio.sleep(0.6)        # the receiver accepts
    await stage.runtime.watcher.cycle()
    (invoice,) = queries.request_invoices(stage.runtime.store, 1)
    assert invoice["acuse"] and invoice["status"] in ("canceled", "awaiting_sat")
    (upload,) = stage.slack.uploads.values()
    assert upload["thread_ts"] == card.ts and upload["filename"] == "acuse-solicitud-1.xml"
    assert uuid_with("A11", 1).encode() in upload["content"]
    assert "acuse_uploaded" in actions(stage)


async def test_a_sat_outage_has_its_own_alert_and_its_recovery(stage: Stage) -> None:
    assert stage.sat is not None
    stage.pac.state.sat_lag_s = 60.0  # the SAT does not show it yet: awaiting_sat
    card = await card_of(stage, lines=[uuid_with("000", 2)])
    await click(stage, "U0BETO", card)
    assert [i["status"] for i in queries.request_invoices(stage.runtime.store, 1)] == \
        ["awaiting_sat"]
    stage.sat.down = True
    for _ in range(3):
        await asyncio.sleep(0.15)  # due again
        await stage.runtime.watcher.cycle()
    (alert,) = stage.slack.channel_messages(ADMIN)
    assert "El servicio de consulta del SAT no responde" in texts(alert) and \
        "3 rondas" in texts(alert)
    await asyncio.sleep(0.15)
    await stage.runtime.watcher.cycle()
    assert len(stage.slack.channel_messages(ADMIN)) == 1  # told once
    stage.sat.down = False
    await asyncio.sleep(0.2)
    await stage.runtime.watcher.cycle()
    assert "volvió a responder" in texts(stage.slack.channel_messages(ADMIN)[-1])
    assert {"sat_outage_alerted", "sat_recovered"} <= set(actions(stage))


async def test_a_failure_reply_names_the_invoices_left_out(stage: Stage) -> None:
    gone, refused = uuid_with("202", 3), uuid_with("621", 4)  # 621: the whole call fails
    card = await card_of(stage, lines=[gone, refused])
    await click(stage, "U0BETO", card)
    assert queries.get_request(stage.runtime.store, 1)["status"] == "failed"
    failed = texts(stage.slack.thread(APPROVALS, card.ts)[-1])
    assert "no se pudo enviar la solicitud #1" in failed
    assert "No se enviaron al proveedor porque el SAT ya las muestra canceladas (1)" in failed
    assert f"`{gone}` — *Ya estaba cancelada*" in failed


ANA, BETO = Actor("U0ANA", "Ana"), Actor("U0BETO", "Beto")




async def test_an_older_sat_answer_never_overwrites_a_newer_one(
        store: AuditStore, pac: PacClient, sat: FactFinder) -> None:
    ref = InvoiceRef(uuid=uuid_with("000", 5))
    request_id = await create_cancel_request(store, ANA, [ref], reason="02",
                                             justification="error", approvals_required=0)
    looked = await sat.look_up(ref)  # the card's lookup: the SAT says Vigente, then waits
    assert looked["sat"]["estado"] == "Vigente"
    assert await approve(store, request_id, BETO, required=0)
    await submit(store, pac, request_id, BETO, sat=sat)
    await confirm_received(store, pac, request_id, sat=sat)
    (row,) = queries.request_invoices(store, request_id)
    assert row["status"] == "canceled"
    await sat.record(request_id, [row], [looked])  # the slow lookup arrives last
    (row,) = queries.request_invoices(store, request_id)
    kept = json.loads(row["facts"])
    assert kept["sat"]["estado"] == "Cancelado" and kept["sat_at"] > looked["sat_at"]
    assert kept["invoice"]["uuid"] == ref.uuid  # the lookup's facts are kept

"""After submission, end to end through the stand-ins (provider sandbox and SAT stand-in share
their memory; docs/sat.md): "cancelada" only when the SAT shows it, the SAT's
EstatusCancelacion in the thread's words, an invoice already cancelled at the SAT left out of
the submission, the SAT down (words truthful, nothing waits forever), and the daily
reconciliation finding an invoice cancelled outside the bot."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.actors import SYSTEM, Actor
from bot.providers.solucion_factible.client import PacClient
from bot.sandbox.pac_server import SandboxPac
from bot.sandbox.sat_server import SandboxSat
from bot.sandbox.slack_server import SlackStandIn
from bot.sandbox.stage import ADMIN, APPROVALS, PEOPLE, Stage
from bot.sat.cancellation import CancelItem
from bot.sat.refs import InvoiceRef
from bot.slack.render.kit import REJECT_ACTION, REJECT_REASON
from bot.workflow.transitions import approve, create_cancel_request, reject
from storage import chain, queries
from storage.store import AuditStore
from tests.helpers import FAST_RETRY, actions, card_of, click, request_row, texts, uuid_with

FAST = {"watch_backoff_s": [0.1], "watch_interval_s": 0.1}
PENDING_SAT = "*Cancelada según el proveedor; confirmación del SAT pendiente*"


@pytest.fixture
async def stage(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stage]:
    opened = await Stage.open(tmp_path / "audit.db", resolve_after_s=0.5,
                              **{**FAST, **getattr(request, "param", {})})
    yield opened
    await opened.close()


def thread(stage: Stage, ts: str) -> list[str]:
    return [texts(m) for m in stage.slack.thread(APPROVALS, ts)]


def statuses(stage: Stage, request_id: int = 1) -> list[str]:
    return [i["status"] for i in queries.request_invoices(stage.runtime.store, request_id)]


async def test_a_201_is_cancelled_only_once_the_sat_shows_it(stage: Stage) -> None:
    stage.pac.state.sat_lag_s = 1.0  # the SAT's books lag the provider's cancellation
    card = await card_of(stage, lines=[uuid_with("000", 1)])
    await click(stage, "U0BETO", card)
    said = thread(stage, card.ts)
    assert "*Pendiente*: recibida por el SAT, confirmando" in said[-2]
    # Asked again, the provider says "previously cancelled"; the SAT does not show it yet.
    assert PENDING_SAT + ": el SAT aún la muestra vigente; el bot le seguirá preguntando " \
        "al SAT hasta 72 h" in said[-1]
    assert "*Cancelada*" not in "\n".join(said)
    assert statuses(stage) == ["awaiting_sat"] and request_row(stage)["status"] == "submitted"
    assert (await stage.runtime.watcher.cycle()).changed == []  # still not at the SAT
    assert len(thread(stage, card.ts)) == len(said)
    await stage.driver.open_home("U0BETO")  # an approver's Home lists it as not settled
    await stage.settle()
    home = json.dumps(stage.slack.homes["U0BETO"], ensure_ascii=False)
    assert "Cancelaciones pendientes (1)" in home and f"`{uuid_with('000', 1)}` · solicitud " \
        "#1 · cancelada según el proveedor; confirmación del SAT pendiente desde hace 0.0 h" \
        in home
    await asyncio.sleep(1.0)
    await stage.runtime.watcher.cycle()
    last = thread(stage, card.ts)[-1]
    assert "<@U0ANA>" in last and "*Cancelada*: no requirió aceptación del receptor; el SAT " \
        "la muestra cancelada" in last and "La solicitud #1 terminó" in last
    assert statuses(stage) == ["canceled"] and request_row(stage)["status"] == "completed"
    assert "SAT: Cancelado" in texts(stage.slack.message(APPROVALS, card.ts))  # the card too
    assert actions(stage).count("sat_confirmed") == 1
    await stage.runtime.watcher.cycle()
    assert thread(stage, card.ts)[-1] == last  # nothing twice
    assert chain.verify(stage.runtime.store.db).ok


async def test_a_202_whose_sat_confirmation_lags_says_what_the_sat_says(stage: Stage) -> None:
    stage.pac.state.sat_lag_s = 1.0
    card = await card_of(stage, lines=[uuid_with("A11", 2)])
    await click(stage, "U0BETO", card)
    assert "en espera de que el receptor acepte" in thread(stage, card.ts)[-1]
    await asyncio.sleep(0.6)  # the receiver accepted: the provider says 202
    await stage.runtime.watcher.cycle()
    told = thread(stage, card.ts)[-1]
    assert PENDING_SAT + ": el SAT la muestra en proceso: el receptor aún no responde" in told
    assert statuses(stage) == ["awaiting_sat"]
    await asyncio.sleep(1.0)
    await stage.runtime.watcher.cycle()
    last = thread(stage, card.ts)[-1]
    assert "*Cancelada*: el receptor aceptó la cancelación; el SAT la muestra cancelada" in last
    assert statuses(stage) == ["canceled"] and request_row(stage)["status"] == "completed"
    confirmed = [json.loads(e["details"]) for e in queries.events(stage.runtime.store)
                 if e["action"] == "sat_confirmed"]
    assert confirmed[0]["sat"]["estatus_cancelacion"] == "Cancelado con aceptación"


@pytest.mark.parametrize(("code", "words"), [
    ("C11", "*Cancelada*: plazo vencido: el receptor no respondió y se tomó como aceptada; "
            "el SAT la muestra cancelada"),
    ("B11", "*Rechazada por el receptor*"),
])
async def test_the_sats_cancellation_status_drives_the_words(
        stage: Stage, code: str, words: str) -> None:
    card = await card_of(stage, lines=[uuid_with(code, 3)])
    await click(stage, "U0BETO", card)
    await asyncio.sleep(0.6)
    await stage.runtime.watcher.cycle()
    assert words in thread(stage, card.ts)[-1]
    assert request_row(stage)["status"] == "completed"


async def test_an_invoice_already_cancelled_at_the_sat_is_not_sent(stage: Stage) -> None:
    gone, live = uuid_with("202", 4), uuid_with("000", 5)
    card = await card_of(stage, lines=[gone, live])
    shown = texts(stage.slack.message(APPROVALS, card.ts))
    assert "⚠️ El SAT ya muestra esta factura como cancelada." in shown
    await click(stage, "U0BETO", card)
    assert stage.pac.asked[gone] == 0 and stage.pac.asked[live] >= 1  # the rest proceeds
    outcomes = "\n".join(thread(stage, card.ts))
    assert f"`{gone}` — *Ya estaba cancelada*: ya cancelada ante el SAT: no se envió al " \
        "proveedor" in outcomes
    assert statuses(stage) == ["already_canceled", "canceled"]
    assert "sat_already_canceled" in actions(stage)
    # A request of such invoices only: the provider is not called at all.
    calls = stage.pac.calls["cancelar"]
    only = await card_of(stage, lines=[uuid_with("202", 6)])
    await click(stage, "U0BETO", only)
    assert stage.pac.calls["cancelar"] == calls
    assert statuses(stage, 2) == ["already_canceled"] and \
        request_row(stage, 2)["status"] == "completed"


@pytest.mark.parametrize("stage", [{"sat_confirm_h": 1.5 / 3600}], indirect=True)
async def test_the_sat_down_is_said_and_nothing_waits_for_ever(stage: Stage) -> None:
    assert stage.sat is not None
    card = await card_of(stage, lines=[uuid_with("000", 7)])
    stage.sat.down = True
    await click(stage, "U0BETO", card)
    told = thread(stage, card.ts)[-1]
    assert PENDING_SAT + ": el SAT no respondió; el bot le seguirá preguntando al SAT" in told
    assert statuses(stage) == ["awaiting_sat"]
    await stage.runtime.watcher.cycle()
    assert statuses(stage) == ["awaiting_sat"] and not stage.slack.channel_messages(ADMIN)
    await asyncio.sleep(1.6)  # SAT_CONFIRM_H has passed: a person decides
    await stage.runtime.watcher.cycle()
    last = thread(stage, card.ts)[-1]
    assert "*Cancelada según el proveedor, sin confirmación del SAT*: el SAT no la mostró " \
        "cancelada en" in last and "revisa en el portal del SAT" in last
    assert statuses(stage) == ["unconfirmed"] and request_row(stage)["status"] == "completed"
    (alert,) = stage.slack.channel_messages(ADMIN)
    assert "El SAT no muestra canceladas 1 factura(s)" in texts(alert)
    await stage.runtime.watcher.cycle()
    assert len(stage.slack.channel_messages(ADMIN)) == 1  # told once
    assert actions(stage).count("sat_unconfirmed") == 1
    # The SAT back: the daily reconciliation finds it cancelled after all.
    stage.sat.down = False
    done = await stage.runtime.watcher.reconciler.run()
    assert [r["ref_key"] for r in done.confirmed] == [uuid_with("000", 7)]
    assert statuses(stage) == ["canceled"]
    assert "*Cancelada*: no requirió aceptación" in thread(stage, card.ts)[-1]


async def test_without_the_sat_the_provider_word_is_kept_as_unconfirmed(stage: Stage) -> None:
    facts = stage.runtime.services.facts
    assert facts is not None
    card = await card_of(stage, lines=[uuid_with("000", 8)])
    facts.sat = None  # as with a real provider and SAT_CONSULTA_URL left at `sandbox`
    await click(stage, "U0BETO", card)
    assert "el bot no consulta al SAT (SAT_CONSULTA_URL)" in thread(stage, card.ts)[-1]
    assert statuses(stage) == ["unconfirmed"] and request_row(stage)["status"] == "completed"


async def test_reconciliation_finds_an_invoice_cancelled_outside_the_bot(
        stage: Stage) -> None:
    outside, ours = uuid_with("000", 9), uuid_with("000", 10)
    rejected = await card_of(stage, lines=[outside])
    await click(stage, "U0BETO", rejected, REJECT_ACTION)
    await stage.driver.submit_view("U0BETO", stage.driver.last_view(),
                                   {REJECT_REASON: "se corrige con nota de crédito"})
    await stage.settle()
    approved = await card_of(stage, lines=[ours])
    await click(stage, "U0BETO", approved)
    assert statuses(stage, 2) == ["canceled"]
    # Someone cancels it directly at the provider, not through the bot.
    client = await PacClient.create(stage.pac.wsdl_url, stage.pac.endpoint, usuario="sandbox",
                                    password="sandbox", retry=FAST_RETRY)
    await client.cancel([CancelItem(ref=InvoiceRef(uuid=outside), reason="02")])
    await client.aclose()
    done = await stage.runtime.watcher.reconciler.run()
    assert done.asked == 2 and done.answered == 2
    assert [(r["ref_key"], kind) for r, kind, _ in done.found] == [
        (outside, "cancelled_elsewhere")]
    (alert,) = stage.slack.channel_messages(ADMIN)
    assert f"`{outside}` (#1): el SAT la muestra cancelada, pero para el bot está *No " \
        "enviada al proveedor*: se canceló fuera del bot" in texts(alert)
    (event,) = [e for e in queries.events(stage.runtime.store)
                if e["action"] == "sat_disagreement"]
    assert event["invoice_ref"] == outside and event["request_id"] == 1
    again = await stage.runtime.watcher.reconciler.run()
    assert again.found == [] and len(stage.slack.channel_messages(ADMIN)) == 1  # told once
    assert chain.verify(stage.runtime.store.db).ok


async def test_python_m_bot_reconcile_tells_the_operators_once(tmp_path: Path) -> None:
    """The command an operator (or cron) runs: the bot assembled as for `run`, against a
    provider, the SAT and Slack over the network; one line, and the operators told once."""
    outside = uuid_with("000", 11)
    store = AuditStore.open(tmp_path / "audit.db")
    request_id = await create_cancel_request(store, Actor("U0ANA", "ana"),
                                             [InvoiceRef(uuid=outside)], reason="02",
                                             justification="x")
    await reject(store, request_id, Actor("U0BETO", "beto"), "no")
    store.close()
    with SandboxPac() as pac, SandboxSat(pac.state, pac.book) as sat, \
            SlackStandIn(token="xoxb-reconcile", users=PEOPLE,
                         channels={APPROVALS: "aprobaciones", ADMIN: "operaciones"}) as slack:
        client = await PacClient.create(pac.wsdl_url, pac.endpoint, usuario="sandbox",
                                        password="sandbox", retry=FAST_RETRY)
        await client.cancel([CancelItem(ref=InvoiceRef(uuid=outside), reason="02")])
        await client.aclose()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CFDI_"))}
        env.update(SLACK_BOT_TOKEN="xoxb-reconcile", SLACK_SIGNING_SECRET="s" * 32,
                   SLACK_API_URL=slack.api_url, APPROVALS_CHANNEL=APPROVALS,
                   ADMIN_CHANNEL=ADMIN, APPROVERS="U0BETO", AUDIT_DB=str(tmp_path / "audit.db"),
                   CFDI_ENDPOINT=pac.endpoint, CFDI_WSDL=pac.wsdl_url,
                   SAT_CONSULTA_URL=sat.endpoint, LANGUAGE="en")
        runs = [await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "bot", "reconcile"], env=env, cwd=tmp_path,
            capture_output=True, text=True, timeout=120) for _ in range(2)]
        alerts = [texts(m) for m in slack.channel_messages(ADMIN)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    assert "Reconciliation with the SAT: 1 invoice(s) asked, 1 answered, 1 new difference(s)" \
        in runs[0].stdout and "0 new difference(s)" in runs[1].stdout
    assert len(alerts) == 1 and "it was cancelled outside the bot" in alerts[0]


async def test_reconciliation_does_not_take_the_bots_own_call_in_flight_for_another(
        stage: Stage) -> None:
    """While the provider has the request, the SAT may already show the bot's own
    cancellation: not a difference (judged at the next run)."""
    uuid = uuid_with("000", 12)
    await card_of(stage, lines=[uuid])
    store = stage.runtime.store
    assert await approve(store, 1, Actor("U0BETO", "beto"), required=1)
    store.transition("request", 1, "submitting", SYSTEM)  # the provider call under way
    stage.pac.state.cancel_elsewhere(uuid)  # the SAT shows it cancelled already
    done = await stage.runtime.watcher.reconciler.run()
    assert done.answered == 1 and done.found == [] and not stage.slack.channel_messages(ADMIN)
    assert "sat_disagreement" not in actions(stage)


def test_the_daily_run_waits_for_its_hour() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot.watching.reconciliation import seconds_until

    zone = ZoneInfo("America/Mexico_City")
    assert seconds_until(7, datetime(2026, 11, 22, 6, 30, tzinfo=zone)) == 1800
    assert seconds_until(7, datetime(2026, 11, 22, 7, 0, tzinfo=zone)) == 86400


@pytest.mark.parametrize("stage", [{"sat_confirm_h": 0.5 / 3600}], indirect=True)
async def test_an_unconfirmed_invoice_still_valid_is_reported_and_may_be_asked_again(
        stage: Stage) -> None:
    """The provider said cancelled; the SAT never showed it. The reconciliation tells the
    operators, and the invoice is not held by the old request: it can be asked again."""
    uuid = uuid_with("000", 9)
    stage.pac.state.sat_lag_s = 3600.0  # the SAT's books never catch up here
    card = await card_of(stage, lines=[uuid])
    await click(stage, "U0BETO", card)
    await asyncio.sleep(0.6)
    await stage.runtime.watcher.cycle()
    assert statuses(stage) == ["unconfirmed"]
    admin_before = len(stage.slack.channel_messages(ADMIN))
    done = await stage.runtime.watcher.reconciler.run()
    assert [(r["ref_key"], kind.value) for r, kind, _ in done.found] == [
        (uuid, "not_cancelled")]
    assert len(stage.slack.channel_messages(ADMIN)) == admin_before + 1
    again = await card_of(stage, lines=[uuid])  # a person found it valid and asks again
    assert request_row(stage, 2)["status"] == "awaiting_approval" and again.ts != card.ts

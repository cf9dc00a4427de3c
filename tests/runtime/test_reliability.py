"""What an attack on the running bot found (issue 12): nothing twice, nothing wrong. Each test
failed on the code before the fix."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.actors import Actor
from bot.providers.contract import SendRequest
from bot.sandbox.stage import ADMIN, APPROVALS, FINANCE, Stage
from bot.sat.refs import InvoiceRef
from bot.slack.render.kit import REJECT_ACTION, RESUBMIT_ACTION
from bot.workflow.transitions import create_send_request
from storage import queries
from tests.faults import injected
from tests.helpers import OK_UUID, actions, card_of, click, request_row, texts, uuid_with

VALUES = {"reason": "02", "justification": "Factura duplicada"}


async def test_two_people_asking_for_one_invoice_at_once_make_one_request(
        stage: Stage) -> None:
    with injected("concurrency: two submissions of the same invoices at once",
                  stage.runtime.store.db):
        for round_ in range(1, 6):
            lines = [uuid_with("000", 10 * round_ + n) for n in range(3)]
            views = []
            for user in ("U0ANA", "U0DIEGO"):
                await stage.driver.command(user, "cancelar", FINANCE)
                await stage.settle()
                views.append((user, stage.driver.last_view()))
            answers = await asyncio.gather(*(
                stage.driver.submit_view(user, view, {"invoices": "\n".join(lines), **VALUES})
                for user, view in views))
            refused = [a.json()["errors"]["invoices"] for a in answers if a.content]
            assert len(refused) == 1, [a.content for a in answers]
            assert "Línea 1: ya está «Solicitada» en la solicitud #" in refused[0]
            await stage.settle()
        assert stage.runtime.store.db["requests"].count == 5


async def test_a_rejected_or_expired_request_releases_its_invoices(stage: Stage) -> None:
    card = await card_of(stage, lines=[OK_UUID])
    await stage.driver.click("U0BETO", APPROVALS, card.ts, REJECT_ACTION)
    await stage.settle()
    await stage.driver.submit_view("U0BETO", stage.driver.last_view(),
                                   {"reject_reason": "No corresponde"})
    await stage.settle()
    assert [i["status"] for i in queries.request_invoices(stage.runtime.store, 1)] == \
        ["rejected"]
    again = await card_of(stage, lines=[OK_UUID])  # not "already requested in #1"
    assert "#2" in texts(again)
    store = stage.runtime.store
    store.clock = lambda: datetime(2100, 1, 1, tzinfo=UTC)  # long past the approval TTL
    assert await stage.runtime.services.lifecycle.expire() == [2]
    assert [i["status"] for i in queries.request_invoices(store, 2)] == ["expired"]
    assert queries.active_elsewhere(store, [OK_UUID]) == []


@pytest.mark.parametrize("stage", [{"send_requires_approval": True}], indirect=True)
async def test_a_send_awaiting_approval_does_not_block_cancelling(stage: Stage) -> None:
    await stage.driver.command("U0ANA", f"enviar {OK_UUID}", FINANCE)
    await stage.settle()
    await stage.driver.submit_view("U0ANA", stage.driver.last_view(),
                                   {"invoices": OK_UUID, "recipients": "a@cliente.example"})
    await stage.settle()
    card = await card_of(stage, lines=[OK_UUID])
    assert "#2" in texts(card)


async def test_a_send_interrupted_in_flight_is_never_sent_again(stage: Stage) -> None:
    store, pac = stage.runtime.store, stage.pac
    with injected("crash: the process stopped while the provider held an enviar call",
                  store.db, pac.sent):
        request = SendRequest(refs=[InvoiceRef(uuid=OK_UUID)], emails=["a@cliente.example"])
        request_id = await create_send_request(store, Actor("U0ANA", "ana"), request,
                                               approvals_required=0)
        store.transition("request", request_id, "approved", Actor("system", "system"))
        store.transition("request", request_id, "submitting", Actor("U0ANA", "ana"))
        # ...and the process died there: the provider may have mailed the customer.
        await stage.runtime.services.submissions.resume()
        await stage.settle()
        assert pac.calls["enviar"] == 0
        assert [i["status"] for i in queries.request_invoices(store, request_id)] == \
            ["unknown"]
        assert request_row(stage, request_id)["status"] == "completed"
        told = texts(stage.slack.dms("U0ANA")[-1])
        assert "pudo haberse enviado o no" in told and "no lo reenvía" in told


@pytest.mark.parametrize("stage", [{"cfdi_timeout_s": 0.3, "slow_s": 2.0}], indirect=True)
async def test_a_send_that_timed_out_is_unknown_and_has_no_retry(stage: Stage) -> None:
    with injected("provider: enviar times out (the mail may be out)", stage.runtime.store.db,
                  stage.pac.sent):
        await stage.driver.command("U0ANA", f"enviar {uuid_with('900')}", FINANCE)
        await stage.settle()
        await stage.driver.submit_view("U0ANA", stage.driver.last_view(), {
            "invoices": uuid_with("900"), "recipients": "a@cliente.example"})
        await stage.settle()
        shown = stage.slack.ephemerals[-1]["text"]
        assert "*Resultado desconocido*" in shown and "pudo haberse enviado o no" in shown
        assert request_row(stage)["status"] == "completed"  # not "failed": no Retry
        assert stage.pac.calls["enviar"] == 1


@pytest.mark.parametrize("stage", [{"required_approvals": 2}], indirect=True)
async def test_an_approver_who_voted_cannot_open_the_reject_form(stage: Stage) -> None:
    card = await card_of(stage)
    await click(stage, "U0BETO", card)
    views_before = len(stage.slack.views)
    await stage.driver.click("U0BETO", APPROVALS, card.ts, REJECT_ACTION)
    await stage.settle()
    assert len(stage.slack.views) == views_before
    assert "Ya registraste tu decisión" in stage.slack.ephemerals[-1]["text"]
    assert "refused_already_voted" in [e["action"] for e in
                                       queries.events(stage.runtime.store)]


async def test_a_malformed_answer_is_unknown_not_refused(stage: Stage) -> None:
    card = await card_of(stage, lines=[uuid_with("9F2")])
    await click(stage, "U0BETO", card)
    last = texts(stage.slack.thread(APPROVALS, card.ts)[-1])
    assert "pudo haberse hecho o no" in last and "rechazó" not in last


@pytest.mark.parametrize("stage", [{"cfdi_timeout_s": 0.3, "slow_s": 2.0,
                                    "send_requires_approval": True}], indirect=True)
async def test_a_gated_send_that_timed_out_says_what_to_check_in_its_thread(
        stage: Stage) -> None:
    await stage.driver.command("U0ANA", f"enviar {uuid_with('900')}", FINANCE)
    await stage.settle()
    await stage.driver.submit_view("U0ANA", stage.driver.last_view(), {
        "invoices": uuid_with("900"), "recipients": "a@cliente.example"})
    await stage.settle()
    (card,) = stage.slack.channel_messages(APPROVALS)
    await click(stage, "U0BETO", card)
    last = texts(stage.slack.thread(APPROVALS, card.ts)[-1])
    assert "*Resultado desconocido*" in last and "pudo haberse enviado o no" in last
    assert "Desconocidas 1" in texts(stage.slack.message(APPROVALS, card.ts))
    assert request_row(stage)["status"] == "completed" and stage.pac.calls["enviar"] == 1


# -- 5: a full disk (any write the audit log refuses) ------------------------------------


async def test_an_approval_the_audit_log_refuses_is_told_and_changes_nothing(
        stage: Stage) -> None:
    # Read-only: an approval's few rows fit in the pages' free room, so a "full" file
    # would still take them; what matters is that the write fails.
    store = stage.runtime.store
    card = await card_of(stage)
    with injected("sqlite: the audit log refuses writes when an approver approves", store.db):
        store.db.conn.execute("PRAGMA query_only = ON")
        await click(stage, "U0BETO", card)
        assert "No se pudo registrar tu decisión sobre la solicitud #1" in \
            stage.slack.ephemerals[-1]["text"]
        alert = texts(stage.slack.channel_messages(ADMIN)[-1])
        assert "El registro de auditoría no acepta escrituras" in alert and "readonly" in alert
        store.db.conn.execute("PRAGMA query_only = OFF")
        assert request_row(stage)["status"] == "awaiting_approval"
        assert stage.pac.calls["cancelar"] == 0
        await click(stage, "U0BETO", card)  # space is back: the same click works
        assert request_row(stage)["status"] == "completed"


async def test_an_answer_the_audit_log_cannot_keep_is_taken_up_without_a_restart(
        stage: Stage, monkeypatch: pytest.MonkeyPatch) -> None:
    store, provider = stage.runtime.store, stage.runtime.provider
    asked = provider.cancel

    async def answer_then_refuse(*args: Any, **kwargs: Any) -> Any:
        answer = await asked(*args, **kwargs)
        # The file stops taking writes (as a full disk does) while the provider holds the call.
        store.db.conn.execute("PRAGMA query_only = ON")
        return answer

    card = await card_of(stage)
    with injected("sqlite: writes fail while the provider holds a cancelar call", store.db):
        monkeypatch.setattr(provider, "cancel", answer_then_refuse)
        await click(stage, "U0BETO", card)
        monkeypatch.undo()
        assert request_row(stage)["status"] == "submitting"  # the answer could not be kept
        assert "no acepta escrituras" in texts(stage.slack.channel_messages(ADMIN)[-1])
        store.db.conn.execute("PRAGMA query_only = OFF")
        await stage.runtime.watcher.cycle()  # no restart: the next cycle takes it up
        await stage.settle()
        assert request_row(stage)["status"] == "completed"
        assert "submission_resumed" in actions(stage)
        outcomes = [m for m in stage.slack.thread(APPROVALS, card.ts)
                    if "*Cancelada*" in texts(m)]
        assert len(outcomes) == 1


# -- 8: two Retry clicks --------------------------------------------------------------------


async def test_two_retry_clicks_resubmit_once_and_an_old_retry_is_stale(stage: Stage) -> None:
    stage.pac.state.transient_failures = 99
    card = await card_of(stage, lines=[uuid_with("503")])
    await click(stage, "U0BETO", card)
    assert request_row(stage)["status"] == "failed"
    per_submission = stage.pac.calls["cancelar"]
    first_failure = stage.slack.thread(APPROVALS, card.ts)[-1]
    with injected("concurrency: two approvers press Retry on one failure at once",
                  stage.runtime.store.db):
        answers = await asyncio.gather(*(
            stage.driver.click(user, APPROVALS, first_failure.ts, RESUBMIT_ACTION)
            for user in ("U0BETO", "U0CARLA")))
        assert [a.status_code for a in answers] == [200, 200]
        await stage.settle()
        assert stage.pac.calls["cancelar"] == 2 * per_submission  # one resubmission
        assert actions(stage).count("submission_failed") == 2
        # The first failure's button again, after the second failure: stale, nothing called.
        await click(stage, "U0BETO", first_failure, RESUBMIT_ACTION)
        assert stage.pac.calls["cancelar"] == 2 * per_submission
        assert "refused_already_decided" in actions(stage)
        stage.pac.state.transient_failures = 0
        latest = stage.slack.thread(APPROVALS, card.ts)[-1]
        await click(stage, "U0CARLA", latest, RESUBMIT_ACTION)
        assert request_row(stage)["status"] == "completed"


# -- 9: another process holds the write lock --------------------------------------------------


def _hold_write_lock(path: Path, seconds: float, held: threading.Event) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    held.set()
    time.sleep(seconds)
    other.execute("ROLLBACK")
    other.close()


async def test_a_held_write_lock_freezes_no_answer(stage: Stage) -> None:
    """Another process holds the write lock for 4 s while people use the bot: every answer
    is Slack's 200 with its real content (a frozen loop makes Bolt answer 404 after 3 s);
    forms that cannot be written in time are refused on the form with nothing written; a
    click (background work) outwaits the lock."""
    store, driver = stage.runtime.store, stage.driver
    card = await card_of(stage)
    views = []
    for user in ("U0ANA", "U0DIEGO"):
        await driver.command(user, "cancelar", FINANCE)
        await stage.settle()
        views.append((user, driver.last_view()))
    held = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(stage.settings.audit_db, 4, held))
    with injected("sqlite: another process holds the write lock for 4 s", store.db):
        holder.start()
        await asyncio.to_thread(held.wait)
        help_, status, history, *forms, clicked = await asyncio.gather(
            driver.command("U0ANA", "ayuda", FINANCE),
            driver.command("U0ANA", f"estado {OK_UUID}", FINANCE),
            driver.command("U0ANA", "historial", FINANCE),
            *(driver.submit_view(user, view, {"invoices": uuid_with("000", n), **VALUES})
              for n, (user, view) in enumerate(views, start=2)),
            driver.click("U0BETO", APPROVALS, card.ts, "cfdi_approve"))
        assert [a.status_code for a in (help_, status, history, *forms, clicked)] == [200] * 6
        assert "/cfdi cancelar" in help_.text and OK_UUID in status.text
        assert "#1" in history.text
        for form in forms:
            assert "No se pudo registrar la solicitud" in form.json()["errors"]["invoices"]
        await asyncio.to_thread(holder.join)
        await stage.settle()
        assert store.db["requests"].count == 1  # the refused forms wrote nothing
        assert request_row(stage)["status"] == "completed"  # the click waited the lock out


# -- 7: long ephemerals and DMs ---------------------------------------------------------------


@pytest.mark.parametrize("channel", [FINANCE, None])
async def test_a_long_ephemeral_or_dm_is_split_and_loses_no_line(stage: Stage,
                                                                 channel: str | None) -> None:
    lines = [f"línea {n:04d} " + "x" * 250 for n in range(1000)]  # over 50 blocks of text
    await stage.runtime.services.io.ephemeral(channel, "U0ANA", "\n".join(lines))
    sent = stage.slack.ephemerals if channel else stage.slack.dms("U0ANA")
    blocks_of = [m["blocks"] if isinstance(m, dict) else m.blocks for m in sent]
    assert len(sent) > 1 and all(len(b) <= 50 for b in blocks_of)
    shown = "\n".join(json.dumps(b, ensure_ascii=False) for b in blocks_of)
    assert all(f"línea {n:04d} " in shown for n in range(1000))
    assert all("SANDBOX" in json.dumps(b) for b in blocks_of)

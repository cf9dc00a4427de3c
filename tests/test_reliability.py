"""What an attack on the running bot found (issue 12): nothing twice, nothing wrong. Each test
failed on the code before the fix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.actors import Actor
from bot.blocks import REJECT_ACTION
from bot.cancellation import create_send_request
from bot.provider import SendRequest
from bot.sandbox.stage import APPROVALS, FINANCE, Stage
from bot.sat.refs import InvoiceRef
from storage import queries
from tests.faults import injected
from tests.helpers import OK_UUID, card_of, click, request_row, texts, uuid_with

VALUES = {"reason": "02", "justification": "Factura duplicada"}


@pytest.fixture
async def stage(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stage]:
    opened = await Stage.open(tmp_path / "audit.db", resolve_after_s=0.5,
                              **getattr(request, "param", {}))
    yield opened
    await opened.close()


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
        request_id = create_send_request(store, Actor("U0ANA", "ana"), request,
                                         approvals_required=0)
        store.transition("request", request_id, "approved", Actor("system", "system"))
        store.transition("request", request_id, "submitting", Actor("U0ANA", "ana"))
        # ...and the process died there: the provider may have mailed the customer.
        await stage.runtime.services.lifecycle.resume()
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

"""Withdrawal end to end through the Slack stand-in: the requester takes back a request still
awaiting approval (a button with Slack's confirmation dialog, on the card and on the App
Home); the card and the thread say so, its invoices are free for a new request, and every
refusal (someone else, too late, a race with an approval) is answered and audited."""

from __future__ import annotations

import json

import pytest

from bot.actors import Actor
from bot.sandbox.stage import APPROVALS, FINANCE, Stage
from bot.sat.refs import InvoiceRef
from bot.workflow.transitions import approve, create_cancel_request, withdraw
from storage import queries
from storage.errors import StaleState
from storage.store import AuditStore
from tests.helpers import OK_UUID, buttons, card_of, click, request_row, texts

ANA, BETO = "U0ANA", "U0BETO"
WITHDRAW = "cfdi_withdraw"


def told(stage: Stage, user: str) -> str:
    return "\n".join([e["text"] for e in stage.slack.ephemerals if e["user"] == user]
                     + [m.text for m in stage.slack.dms(user)])


def actions(stage: Stage) -> list[str]:
    return [e["action"] for e in queries.events(stage.runtime.store)]


async def test_the_requester_withdraws_and_the_invoices_are_free_again(stage: Stage) -> None:
    card = await card_of(stage)
    button = next(e for b in card.blocks if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == WITHDRAW)
    assert button["confirm"]["title"]["text"] == "¿Retirar la solicitud #1?"
    assert await stage.driver.click(ANA, APPROVALS, card.ts, WITHDRAW, confirm=False) is None
    assert request_row(stage)["status"] == "awaiting_approval"  # "No, mantenerla": nothing
    await click(stage, ANA, card, WITHDRAW)
    assert request_row(stage)["status"] == "withdrawn"
    shown = stage.slack.message(APPROVALS, card.ts)
    assert "Retirada" in texts(shown) and "↩️ Retirada por <@U0ANA>" in texts(shown)
    assert buttons(shown) == []
    (reply,) = stage.slack.thread(APPROVALS, card.ts)
    assert "↩️ <@U0ANA> retiró la solicitud. Sus facturas quedan libres" in texts(reply)
    assert "Retiraste la solicitud #1" in told(stage, ANA)
    (invoice,) = queries.request_invoices(stage.runtime.store, 1)
    assert (invoice["status"], invoice["live"]) == ("withdrawn", 0)
    assert {"request_withdrawn", "invoice_withdrawn"} <= set(actions(stage))
    again = await card_of(stage, lines=[OK_UUID])  # the same invoice in a new request
    assert request_row(stage, 2)["status"] == "awaiting_approval" and again.ts != card.ts
    assert stage.runtime.store.verify().ok


async def test_only_the_requester_and_only_while_awaiting(stage: Stage) -> None:
    card = await card_of(stage)
    late = stage.driver.click_body(ANA, APPROVALS, card.ts, WITHDRAW)  # the card as shown
    await click(stage, BETO, card, WITHDRAW)
    assert "Solo quien pidió la solicitud puede retirarla" in told(stage, BETO)
    assert request_row(stage)["status"] == "awaiting_approval"
    await click(stage, BETO, card)  # approved meanwhile
    answer = await stage.driver.post(late)  # Ana's click on the card she still saw
    assert answer.status_code == 200
    await stage.settle()
    assert "ya no espera aprobación" in told(stage, ANA)
    assert request_row(stage)["status"] in ("submitted", "completed")
    refused = [a for a in actions(stage) if a.startswith("refused_")]
    assert refused == ["refused_withdraw_not_requester", "refused_withdraw_too_late"]


async def test_a_withdrawal_racing_an_approval_loses_cleanly(store: AuditStore) -> None:
    """Compare-and-set in one transaction: once approved, a withdrawal writes nothing."""
    ana, beto = Actor(ANA, "ana.lopez"), Actor(BETO, "beto.ruiz")
    request_id = await create_cancel_request(store, ana, [InvoiceRef(uuid=OK_UUID)],
                                             reason="02", justification="x")
    assert await approve(store, request_id, beto)
    before = len(queries.events(store))
    with pytest.raises(StaleState):
        await withdraw(store, request_id, ana)
    assert len(queries.events(store)) == before
    assert queries.get_request(store, request_id)["status"] == "approved"


async def test_the_home_offers_the_requester_a_withdrawal(stage: Stage) -> None:
    await card_of(stage)
    await stage.driver.open_home(ANA)
    await stage.settle()
    home = stage.slack.homes[ANA]
    assert "Retirar #1" in json.dumps(home, ensure_ascii=False)
    answer = await stage.driver.click_home(ANA, WITHDRAW, "1")
    assert answer is not None and answer.status_code == 200
    await stage.settle()
    assert request_row(stage)["status"] == "withdrawn"
    assert "Retirar #1" not in json.dumps(stage.slack.homes[ANA], ensure_ascii=False)
    history = await stage.driver.command(ANA, "historial", FINANCE)
    assert "Retirada" in str(history.json())

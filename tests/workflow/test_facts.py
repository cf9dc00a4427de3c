"""The invoice's facts and the SAT's status on the card, end to end through the stand-ins:
posted at once, completed when the lookups come back, "unavailable" when the provider or the
SAT cannot answer, never in the way of the ack or of approval, and on the audit record."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from bot.sandbox.stage import APPROVALS, Stage
from bot.sat.cfdi import CfdiFacts, CfdiType
from storage import queries
from tests.helpers import ask, card_of, click, request_row, texts, uuid_with


def card_now(stage: Stage) -> str:
    return texts(stage.slack.channel_messages(APPROVALS)[-1])


def facts_events(stage: Stage) -> list[dict]:
    return [json.loads(e["details"]) for e in queries.events(stage.runtime.store)
            if e["action"] == "invoice_facts"]


async def test_the_card_shows_who_how_much_and_what_the_sat_says(stage: Stage) -> None:
    uuid = uuid_with("A11", 3)
    facts = stage.pac.book.get(uuid)
    await card_of(stage, lines=[uuid])
    card = card_now(stage)
    assert f"{facts.receiver_name} ({facts.receiver_rfc})" in card
    assert f"${facts.amount:,.2f} MXN" in card
    assert f"emitida el {facts.issued_at:%Y-%m-%d}" in card and "Ingreso" in card
    assert "SAT: Vigente · cancelable con aceptación del receptor" in card
    (recorded,) = facts_events(stage)  # what the approver saw is on the audit record
    assert recorded["invoice"]["uuid"] == uuid
    assert recorded["sat"]["es_cancelable"] == "Cancelable con aceptación"


async def test_the_form_is_answered_before_any_lookup(stage: Stage) -> None:
    stage.pac.delay_s = 0.5  # every provider answer is held
    answer = await ask(stage, "U0ANA", [uuid_with("000", 1), uuid_with("000", 2)])
    assert answer.status_code == 200 and not answer.content
    assert stage.pac.calls["descargarXML"] == 0  # none had been answered yet
    await stage.settle()
    stage.pac.delay_s = 0
    assert stage.pac.calls["descargarXML"] == 2 and len(facts_events(stage)) == 2
    assert card_now(stage).count("SAT: Vigente") == 2


async def test_the_sat_down_leaves_the_facts_and_approval_works(stage: Stage) -> None:
    assert stage.sat is not None
    stage.sat.down = True
    card = await card_of(stage, lines=[uuid_with("000", 4)])
    shown = card_now(stage)
    assert "SAT: _sin respuesta" in shown and "emitida el" in shown
    (recorded,) = facts_events(stage)
    assert recorded["sat"] is None and recorded["sat_error"] == "sat_http:503"
    await click(stage, "U0BETO", card)
    assert request_row(stage)["status"] in ("submitted", "completed")


async def test_no_xml_from_the_provider_says_unavailable_and_approval_works(
        stage: Stage) -> None:
    stage.pac.down = True  # the lookups fail (retried, then given up)
    card = await card_of(stage, lines=[uuid_with("000", 5)])
    assert "Datos de la factura no disponibles" in card_now(stage)
    (recorded,) = facts_events(stage)
    assert recorded["invoice_error"] == "http:503" and recorded["sat_error"] == "no_facts"
    stage.pac.down = False
    await click(stage, "U0BETO", card)
    assert request_row(stage)["status"] in ("submitted", "completed")


async def test_names_from_the_xml_are_escaped_on_the_card(stage: Stage) -> None:
    uuid = uuid_with("000", 6)
    stage.pac.book.issue(CfdiFacts(
        version="4.0", uuid=uuid, issuer_rfc="EKU9003173C9", receiver_rfc="H&E951128469",
        receiver_name="HERRERIA & ELECTRICOS <!channel>", total="999.00", currency="MXN",
        issued_at=datetime(2026, 1, 5, 10, 0), type=CfdiType.INGRESO))
    await card_of(stage, lines=[uuid])
    card = card_now(stage)
    assert "HERRERIA &amp; ELECTRICOS &lt;!channel&gt; (H&amp;E951128469)" in card
    assert "<!channel>" not in card
    assert "SAT: Vigente" in card  # the RFC's & reached the SAT as the printed code writes it


async def test_invoices_named_by_serie_and_folio_get_their_facts(stage: Stage) -> None:
    await card_of(stage, lines=["FAC 1001"])
    (recorded,) = facts_events(stage)
    assert (recorded["invoice"]["serie"], recorded["invoice"]["folio"]) == ("FAC", "1001")
    assert "SAT: Vigente" in card_now(stage)


async def test_a_not_cancellable_invoice_is_flagged_with_the_cfdis_its_xml_names(
        stage: Stage) -> None:
    uuid = uuid_with("204", 7)
    related = stage.pac.book.get(uuid).related
    await card_of(stage, lines=[uuid])
    card = card_now(stage)
    assert "⚠️ El SAT dice que no es cancelable" in card
    assert related and all(f"`{r.uuid}` (aplicación de anticipo)" in card for r in related)


async def test_an_invoice_the_sat_shows_cancelled_is_flagged(stage: Stage) -> None:
    await card_of(stage, lines=[uuid_with("202", 8)])
    assert "⚠️ El SAT ya muestra esta factura como cancelada." in card_now(stage)


@pytest.mark.parametrize("stage", [{"annual_return_deadline": "04-30"}], indirect=True)
async def test_the_deadline_and_the_receivers_window(stage: Stage) -> None:
    late, due = uuid_with("000", 9), uuid_with("A11", 10)
    facts = stage.pac.book.get(late)
    stage.pac.book.issue(facts.model_copy(update={"issued_at": datetime(2020, 6, 1, 9)}))
    await card_of(stage, lines=[late, due])
    card = card_now(stage)
    assert "⚠️ Fuera de plazo: solo se podía cancelar hasta el 2021-04-30" in card
    issued = stage.pac.book.get(due).issued_at
    assert f"Cancelable hasta el {issued.year + 1}-04-30 · el receptor debe aceptar" in card
    await click(stage, "U0BETO", stage.slack.channel_messages(APPROVALS)[-1])
    # Once submitted, the outcome speaks: the prospects are no longer shown.
    assert "Cancelable hasta el" not in card_now(stage)


async def test_the_requester_hears_of_the_invoices_that_give_pause(stage: Stage) -> None:
    before = len(stage.slack.dms("U0ANA"))
    await card_of(stage, lines=[uuid_with("000", 11)])
    assert len(stage.slack.dms("U0ANA")) == before  # nothing to say
    flagged, fine = uuid_with("204", 12), uuid_with("000", 13)
    await card_of(stage, lines=[flagged, fine])
    told = texts(stage.slack.dms("U0ANA")[-1])
    assert "Tu solicitud #2: 1 factura(s) piden atención" in told
    assert f"`{flagged}` — ⚠️ El SAT dice que no es cancelable" in told and fine not in told

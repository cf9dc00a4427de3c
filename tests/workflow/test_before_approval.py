"""Before approval, end to end through the stand-ins: an invoice that cannot be cancelled is
flagged with the related CFDIs its XML names, on the card and to the requester; reason 01's
replacement is checked against its own XML (relation 04 naming the cancelled invoice)."""

from __future__ import annotations

import json

from bot.sandbox.stage import APPROVALS, Stage
from storage import queries
from tests.helpers import card_of, click, request_row, texts, uuid_with


def card_now(stage: Stage) -> str:
    return texts(stage.slack.channel_messages(APPROVALS)[-1])


def facts_of(stage: Stage) -> list[dict]:
    return [json.loads(e["details"]) for e in queries.events(stage.runtime.store)
            if e["action"] == "invoice_facts"]


def told(stage: Stage, user: str = "U0ANA") -> str:
    return "\n".join(texts(m) for m in stage.slack.dms(user))


async def test_a_not_cancellable_invoice_is_flagged_to_the_requester_with_its_related_cfdis(
        stage: Stage) -> None:
    uuid = uuid_with("204", 1)
    related = stage.pac.book.get(uuid).related
    await card_of(stage, lines=[uuid])
    card, dm = card_now(stage), told(stage)
    assert related
    for shown in (card, dm):
        assert "⚠️ El SAT dice que no es cancelable; causa probable: CFDI relacionados " \
            "vigentes. Su XML nombra:" in shown
        assert all(f"`{r.uuid}` (aplicación de anticipo)" in shown for r in related)


async def reason_01(stage: Stage, cancelled: str, replacement: str) -> str:
    await card_of(stage, lines=[cancelled], reason="01", replacement=replacement)
    return card_now(stage)


async def test_a_replacement_that_relates_the_invoice_is_not_flagged(stage: Stage) -> None:
    cancelled = uuid_with("000", 2)
    replacement = stage.pac.book.replace(cancelled)
    card = await reason_01(stage, cancelled, replacement.uuid)
    assert f"✓ La factura sustituta `{replacement.uuid}` la relaciona como sustitución " \
        "(tipo 04)." in card
    assert "⚠️" not in card and "piden atención" not in told(stage)
    (recorded,) = facts_of(stage)
    assert recorded["replacement"] == {"ref": replacement.uuid, "uuid": replacement.uuid,
                                       "error": None, "check": "related"}
    assert stage.pac.calls["descargarXML"] == 2  # the invoice's XML and the replacement's


async def test_a_replacement_typed_as_serie_and_folio_is_found_by_them(stage: Stage) -> None:
    cancelled = uuid_with("000", 3)
    replacement = stage.pac.book.replace(cancelled, serie="R", folio=77)
    card = await reason_01(stage, cancelled, "R 77")
    assert f"✓ La factura sustituta `{replacement.uuid}` la relaciona" in card


async def test_a_replacement_that_does_not_relate_the_invoice_is_flagged(stage: Stage) -> None:
    cancelled, other = uuid_with("000", 4), uuid_with("000", 5)  # an unrelated invoice
    card = await reason_01(stage, cancelled, other)
    flagged = f"⚠️ La factura sustituta `{other}` no la relaciona como sustitución (tipo 04)"
    assert flagged in card
    assert f"`{cancelled}` — {flagged}" in told(stage)
    # Another invoice's replacement relates that one, not this one.
    third = uuid_with("000", 6)
    elsewhere = stage.pac.book.replace(uuid_with("000", 7))
    card = await reason_01(stage, third, elsewhere.uuid)
    assert f"⚠️ La factura sustituta `{elsewhere.uuid}` no la relaciona" in card


async def test_a_missing_replacement_is_flagged_and_approval_still_works(
        stage: Stage) -> None:
    cancelled, missing = uuid_with("000", 8), uuid_with("623", 9)  # 623: not found
    await reason_01(stage, cancelled, missing)
    flagged = f"⚠️ El proveedor no encontró la factura sustituta `{missing}`"
    assert flagged in card_now(stage) and flagged in told(stage)
    (recorded,) = facts_of(stage)
    assert recorded["replacement"]["check"] == "missing"
    # The approver decides; the provider has the last word.
    await click(stage, "U0BETO", stage.slack.channel_messages(APPROVALS)[-1])
    assert request_row(stage)["status"] in ("submitted", "completed", "failed")


async def test_a_replacement_the_provider_cannot_give_is_said_unchecked(stage: Stage) -> None:
    cancelled, broken = uuid_with("000", 10), uuid_with("9F1", 11)  # HTTP 500 for its XML
    card = await reason_01(stage, cancelled, broken)
    assert f"No se pudo revisar la factura sustituta `{broken}`" in card
    assert "⚠️" not in card and "piden atención" not in told(stage)

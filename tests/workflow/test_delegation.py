"""Delegation end to end through the Slack stand-in (signed commands and clicks): an approver
names a stand-in with `/cfdi delegar`, the stand-in decides in their place and the card, the
thread and the audit log show both names; every refusal is answered and audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.actors import Actor
from bot.cli import auditdb
from bot.sandbox.stage import APPROVALS, FINANCE, Stage
from storage import delegations, queries
from tests.cli.test_check import checked, settings_for, stand_in
from tests.helpers import OK_UUID, card_of, click, request_row, texts, uuid_with

BETO, CARLA, DIEGO, ANA = "U0BETO", "U0CARLA", "U0DIEGO", "U0ANA"
TWO = {"required_approvals": 2}


def someday(stage: Stage, days: int = 7) -> str:
    """A day `days` from today in TIMEZONE, as typed."""
    now = stage.runtime.store.clock().astimezone(stage.settings.zone)
    return (now + timedelta(days=days)).date().isoformat()


async def delegate(stage: Stage, who: str, to: str | None, day: str | None = None) -> str:
    """`who` types `/cfdi delegar <@to|name> hasta day` (or `fin` when `to` is None); what
    they were told (the ack's text, or the ephemeral answer after it)."""
    name = stage.slack.users.get(to or "", to)
    words = "fin" if to is None else f"<@{to}|{name}> hasta {day or someday(stage)}"
    before = len(stage.slack.ephemerals)
    answer = await stage.driver.command(who, f"delegar {words}", FINANCE)
    assert answer.status_code == 200
    await stage.settle()
    said = [e["text"] for e in stage.slack.ephemerals[before:] if e["user"] == who]
    return "\n".join(said) or (answer.json()["text"] if answer.content else "")


def told(stage: Stage, user: str) -> str:
    return "\n".join([e["text"] for e in stage.slack.ephemerals if e["user"] == user]
                     + [m.text for m in stage.slack.dms(user)])


def events(stage: Stage, action: str) -> list[dict]:
    return [e for e in queries.events(stage.runtime.store) if e["action"] == action]


def thread_text(stage: Stage) -> str:
    card = stage.slack.channel_messages(APPROVALS)[0]
    return "\n".join(texts(m) for m in stage.slack.thread(APPROVALS, card.ts))


def card_text(stage: Stage, index: int = -1) -> str:
    card = stage.slack.channel_messages(APPROVALS)[index]
    return texts(stage.slack.message(APPROVALS, card.ts))


async def test_a_stand_in_approves_in_place_of_an_absent_approver(stage: Stage) -> None:
    said = await delegate(stage, BETO, DIEGO)
    assert f"Desde ahora <@{DIEGO}> puede aprobar o rechazar en tu lugar hasta el " \
        f"{someday(stage)}" in said
    assert "te nombró su suplente" in "\n".join(m.text for m in stage.slack.dms(DIEGO))
    (started,) = events(stage, "delegation_started")
    assert started["actor_id"] == BETO and json.loads(started["details"])["delegate_id"] == DIEGO
    card = await card_of(stage)
    await click(stage, DIEGO, card)
    assert request_row(stage)["status"] in ("submitted", "completed")
    assert f"<@{DIEGO}> (en lugar de <@{BETO}>)" in card_text(stage)
    assert f"✅ <@{DIEGO}> (en lugar de <@{BETO}>) aprobó" in thread_text(stage)
    (decision,) = events(stage, "decision_approve")
    assert decision["actor_id"] == DIEGO
    assert json.loads(decision["details"])["on_behalf_of"] == {"id": BETO, "name": "beto.ruiz"}
    (vote,) = queries.decisions(stage.runtime.store, 1)
    assert (vote["user_id"], vote["acted_by_id"]) == (BETO, DIEGO)
    answer = await stage.driver.command(ANA, f"estado {OK_UUID}", FINANCE)
    assert "diego.mora (en lugar de beto.ruiz) · aprobó" in str(answer.json())
    assert stage.runtime.store.verify().ok


async def test_who_may_delegate_to_whom_is_refused_and_audited(stage: Stage) -> None:
    assert "Solo los aprobadores pueden nombrar un suplente" in await delegate(
        stage, DIEGO, ANA)
    assert "No puedes ser tu propio suplente" in await delegate(stage, BETO, BETO)
    for day in ("2001-01-01", "9999-12-31", "mañana", someday(stage, 367)):
        assert f"«{day}» no es una fecha AAAA-MM-DD de hoy a 366 días" in await delegate(
            stage, BETO, DIEGO, day)
    assert "Uso: `/cfdi delegar" in (await stage.driver.command(
        BETO, "delegar a Diego", FINANCE)).json()["text"]
    await delegate(stage, CARLA, BETO)                       # Carla -> Beto
    chain = await delegate(stage, BETO, DIEGO)               # Carla -> Beto -> Diego
    assert f"Eres suplente de <@{CARLA}>; una suplencia no se delega de nuevo" in chain
    loop = await delegate(stage, BETO, CARLA)                # Carla -> Beto -> Carla
    assert f"<@{CARLA}> ya te nombró su suplente" in loop
    await delegate(stage, CARLA, None)                       # Carla ends hers
    await delegate(stage, BETO, DIEGO)                       # Beto -> Diego
    away = await delegate(stage, CARLA, BETO)                # Beto is away himself
    assert f"<@{BETO}> tiene su propia suplencia vigente" in away
    refused = [e["action"] for e in queries.events(stage.runtime.store)
               if e["action"].startswith("refused_")]
    assert refused == ["refused_delegate_not_approver", "refused_delegate_self",
                       "refused_delegate_chain", "refused_delegate_loop",
                       "refused_delegate_chain"]
    assert [e["actor_id"] for e in events(stage, "delegation_started")] == [CARLA, BETO]
    assert [e["actor_id"] for e in events(stage, "delegation_ended")] == [CARLA]
    assert "No tienes una suplencia vigente" in await delegate(stage, CARLA, None)


@pytest.mark.parametrize("stage", [TWO], indirect=True)
async def test_the_approver_and_the_stand_in_count_once(stage: Stage) -> None:
    await delegate(stage, BETO, DIEGO)
    card = await card_of(stage)
    await click(stage, BETO, card)
    await click(stage, DIEGO, card)  # Beto already decided: his vote counts once
    assert request_row(stage)["status"] == "awaiting_approval"
    assert f"<@{BETO}> ya decidió la solicitud #1" in told(stage, DIEGO)
    second = await card_of(stage, lines=[uuid_with("000", 2)])
    await click(stage, DIEGO, second)
    await click(stage, BETO, second)  # his stand-in decided for him
    assert f"<@{DIEGO}> ya decidió la solicitud #2 en tu lugar" in told(stage, BETO)
    assert request_row(stage, 2)["status"] == "awaiting_approval"
    await click(stage, CARLA, second)  # a second, distinct person completes it
    assert request_row(stage, 2)["status"] in ("submitted", "completed")
    assert [e["action"] for e in queries.events(stage.runtime.store)
            if e["action"].startswith("refused_")] == [
        "refused_delegate_already_decided", "refused_already_voted_in_place"]


async def test_a_stand_in_cannot_decide_their_own_request_nor_the_approvers(
        stage: Stage) -> None:
    await delegate(stage, BETO, DIEGO)
    own = await card_of(stage, user=DIEGO)
    await click(stage, DIEGO, own)
    assert f"No puedes decidir tu propia solicitud, tampoco como suplente de <@{BETO}>" in \
        told(stage, DIEGO)
    bettos = await card_of(stage, user=BETO, lines=[uuid_with("000", 3)])
    await click(stage, DIEGO, bettos)
    assert f"<@{BETO}> pidió esta solicitud: nadie puede decidirla en su lugar" in \
        told(stage, DIEGO)
    assert request_row(stage, 1)["status"] == request_row(stage, 2)["status"] == \
        "awaiting_approval"
    await delegate(stage, BETO, None)  # back: the stand-in no longer decides
    await click(stage, DIEGO, bettos)
    assert "Solo los aprobadores configurados" in told(stage, DIEGO)
    assert [e["action"] for e in queries.events(stage.runtime.store)
            if e["action"].startswith("refused_")] == [
        "refused_delegate_own_request", "refused_delegate_for_requester",
        "refused_not_approver"]


async def test_a_delegation_ends_at_the_end_of_its_day(stage: Stage) -> None:
    store = stage.runtime.store
    await delegate(stage, BETO, DIEGO, someday(stage, 0))  # until the end of today
    card = await card_of(stage)
    real = store.clock
    store.clock = lambda: real() + timedelta(days=1, hours=1)  # tomorrow: over
    try:
        await click(stage, DIEGO, card)
    finally:
        store.clock = real
    assert request_row(stage)["status"] == "awaiting_approval"
    assert "Solo los aprobadores configurados" in told(stage, DIEGO)


async def test_the_home_shows_delegations_and_lets_the_stand_in_decide(stage: Stage) -> None:
    await delegate(stage, BETO, DIEGO)
    await card_of(stage)
    await stage.driver.open_home(BETO)
    await stage.driver.open_home(DIEGO)
    await stage.settle()
    home = json.dumps(stage.slack.homes[BETO], ensure_ascii=False)
    assert f"Tu suplente: <@{DIEGO}> hasta el {someday(stage)}" in home
    home = json.dumps(stage.slack.homes[DIEGO], ensure_ascii=False)
    assert f"Eres suplente de <@{BETO}> hasta el {someday(stage)}" in home
    assert f"Esperando la decisión de <@{BETO}> (decides en su lugar)" in home
    answer = await stage.driver.click_home(DIEGO, "cfdi_approve", "1")
    assert answer is not None and answer.status_code == 200
    await stage.settle()
    assert request_row(stage)["status"] in ("submitted", "completed")
    assert queries.decisions(stage.runtime.store, 1)[0]["acted_by_id"] == DIEGO


async def test_check_shows_the_stand_ins_in_force(tmp_path: Path) -> None:
    with stand_in() as slack:
        settings = settings_for(slack, tmp_path)
        store = auditdb.open_for(settings)
        beto, carla = Actor(BETO, "beto.ruiz"), Actor(CARLA, "carla.diaz")
        with store.transaction() as tx:
            delegations.start(tx, beto, Actor(DIEGO, "diego.mora"), "2099-01-31",
                              datetime(2099, 2, 1, tzinfo=UTC))
            delegations.start(tx, carla, Actor(ANA, "ana.lopez"), "2001-01-31",
                              datetime(2001, 2, 1, tzinfo=UTC))  # over long ago
        store.close()
        code, lines = await checked(settings)
    assert code == 0, lines
    assert "✓ Stand-ins in force: beto.ruiz → diego.mora until 2099-01-31." in lines
    assert not any("carla" in line for line in lines)


async def test_a_stand_in_rejects_in_place_and_the_requester_reads_both_names(
        stage: Stage) -> None:
    await delegate(stage, BETO, DIEGO)
    card = await card_of(stage)
    await click(stage, DIEGO, card, "cfdi_reject")
    await stage.driver.submit_view(DIEGO, stage.driver.last_view(),
                                   {"reject_reason": "se corrige con nota de crédito"})
    await stage.settle()
    assert request_row(stage)["status"] == "rejected"
    both = f"<@{DIEGO}> (en lugar de <@{BETO}>)"
    assert f"⛔ Rechazada por {both}" in card_text(stage)
    assert f"{both} rechazó la solicitud" in thread_text(stage)
    assert f"fue rechazada por {both}" in told(stage, ANA)
    (rejected,) = events(stage, "request_rejected")
    assert rejected["actor_id"] == DIEGO
    assert json.loads(rejected["details"])["on_behalf_of"]["id"] == BETO


async def test_a_stand_in_the_bot_cannot_write_to_is_refused(stage: Stage) -> None:
    """Someone Slack does not know (a typo), a deactivated person or a bot could never be
    told nor click: refused after the ack, and audited; no delegation is written."""
    said = await delegate(stage, "U0BETO", "U0NOBODY1")
    assert "<@U0NOBODY1>" in said and "no se hizo nada" in said
    assert events(stage, "delegation_started") == []
    assert len(events(stage, "refused_unknown_delegate")) == 1


async def test_a_mistyped_date_is_shown_back_inert(stage: Stage) -> None:
    said = await delegate(stage, "U0BETO", "U0DIEGO", "<!channel>*x*")
    assert "<!channel>" not in said and "&lt;!channel&gt;" in said
    assert events(stage, "delegation_started") == []

"""End to end over HTTP: signed Slack payloads into /slack/events, the Slack stand-in, the
sandbox provider, a real SQLite file. What each person would see is read back from the
stand-in; what happened is read back from the audit log.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.pac_rules import Answer
from bot.sandbox.stage import ADMIN, APPROVALS, FINANCE, Stage
from bot.slack.render.kit import APPROVE_ACTION, REJECT_ACTION, RESUBMIT_ACTION, WITHDRAW_ACTION
from storage import chain, queries
from tests.helpers import (
    OK_UUID,
    SEED_204,
    actions,
    ask,
    buttons,
    card_of,
    click,
    request_row,
    texts,
    uuid_with,
)


@pytest.fixture
async def stage(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stage]:
    overrides = getattr(request, "param", {})
    opened = await Stage.open(tmp_path / "audit.db", resolve_after_s=0.5, **overrides)
    yield opened
    await opened.close(drain=not overrides.get("_no_drain", False))


async def test_the_happy_path(stage: Stage) -> None:
    answer = await stage.driver.command("U0ANA", f"cancelar {SEED_204} {OK_UUID}", FINANCE)
    assert answer.status_code == 200
    await stage.settle()
    view = stage.driver.last_view()
    prefilled = next(b for b in view["blocks"] if b.get("block_id") == "invoices")
    assert prefilled["element"]["initial_value"] == f"{SEED_204}\n{OK_UUID}"
    submitted = await stage.driver.submit_view("U0ANA", view, {
        "invoices": prefilled["element"]["initial_value"], "reason": "02",
        "justification": "Factura duplicada", "notify": ["U0DIEGO"]})
    assert submitted.status_code == 200
    await stage.settle()

    (card,) = stage.slack.channel_messages(APPROVALS)
    shown = texts(card)
    assert "<@U0ANA>" in shown and SEED_204 in shown and "Factura duplicada" in shown
    assert "02 — Comprobante emitido con errores sin relación" in shown
    assert buttons(card) == [APPROVE_ACTION, REJECT_ACTION, WITHDRAW_ACTION]
    (note,) = stage.slack.ephemerals
    assert note["user"] == "U0ANA" and note["channel"] == FINANCE
    assert "https://sandbox.slack.example/archives/C0APROBACIONES/p" in note["text"]
    assert "Solicitud #1" in texts(stage.slack.dms("U0DIEGO")[0])
    assert request_row(stage)["thread_ts"] == card.ts

    await click(stage, "U0BETO", card)
    card = stage.slack.message(APPROVALS, card.ts)
    assert buttons(card) == []
    assert "Aprobada por <@U0BETO>" in texts(card)
    assert "Canceladas 1 · Pendientes 0 · No canceladas 1 · Fallidas 0" in texts(card)
    approved, outcomes, confirmed = stage.slack.thread(APPROVALS, card.ts)
    assert "<@U0BETO> aprobó" in texts(approved)
    result = texts(outcomes)
    assert "<@U0ANA>" in result
    assert f"`{SEED_204}` — *No cancelable*" in result
    # The SAT's 201 only says "received": cancelled once a later ask confirms it.
    assert f"`{OK_UUID}` — *Pendiente*: recibida por el SAT, confirmando" in result
    assert "Cancelada" not in result
    assert f"`{OK_UUID}` — *Cancelada*" in texts(confirmed)
    (upload,) = stage.slack.uploads.values()
    assert upload["thread_ts"] == card.ts and upload["filename"] == "acuse-solicitud-1.xml"
    assert b"<Acuse" in upload["content"] and OK_UUID.encode() in upload["content"]
    assert request_row(stage)["status"] == "completed"
    for message in stage.slack.messages:
        assert "SANDBOX" in texts(message), message.text
    assert chain.verify(stage.runtime.store.db).ok
    assert {"request_created", "card_posted", "decision_approve", "request_approved",
            "provider_answered", "thread_reply", "acuse_uploaded"} <= set(actions(stage))


async def test_an_approver_in_the_user_group_may_approve(stage: Stage) -> None:
    card = await card_of(stage)
    await click(stage, "U0CARLA", card)
    assert request_row(stage)["status"] == "completed"
    assert stage.slack.calls_of("usergroups.users.list")


@pytest.mark.parametrize(("requester", "clicker", "why", "message"), [
    ("U0BETO", "U0BETO", "refused_self_approval", "tu propia solicitud"),
    ("U0ANA", "U0ANA", "refused_not_approver", "Solo los aprobadores"),
    ("U0ANA", "U0DIEGO", "refused_not_approver", "Solo los aprobadores"),
])
async def test_refused_deciders_change_nothing_and_are_audited(
        stage: Stage, requester: str, clicker: str, why: str, message: str) -> None:
    card = await card_of(stage, requester)
    for action in (APPROVE_ACTION, REJECT_ACTION):
        await click(stage, clicker, card, action)
    assert request_row(stage)["status"] == "awaiting_approval"
    refusals = [e for e in queries.events(stage.runtime.store) if e["action"] == why]
    assert [e["actor_id"] for e in refusals] == [clicker, clicker]
    told = [e for e in stage.slack.ephemerals if e["user"] == clicker and e["channel"] == APPROVALS]
    assert len(told) == 2 and all(message in e["text"] for e in told)
    assert stage.pac.calls["cancelar"] == 0
    assert stage.slack.thread(APPROVALS, card.ts) == []


async def test_bad_signatures_and_old_timestamps_get_401_and_write_nothing(
        stage: Stage) -> None:
    body = stage.driver.command_body("U0ANA", "cancelar", FINANCE)
    forged = await stage.driver.post(body, signature="v0=" + "0" * 64)
    old = await stage.driver.post(body, timestamp=int(time.time()) - 6 * 60)
    missing = await stage.driver.http.post(stage.driver.events_url, content=body.encode(),
                                           headers={"Content-Type":
                                                    "application/x-www-form-urlencoded"})
    assert [r.status_code for r in (forged, old, missing)] == [401, 401, 401]
    assert stage.slack.calls_of("views.open") == []
    assert queries.events(stage.runtime.store) == []


MANY = [uuid_with("000", n) for n in range(1, 6)]


@pytest.mark.parametrize(("lines", "fields", "block", "expected"), [
    (["hola"], {}, "invoices", "Línea 1: «hola» no es un UUID ni serie y folio."),
    ([OK_UUID, "FAC 12X"], {}, "invoices", "Línea 2: el folio «12X» no es un número."),
    ([f"FAC 1 {OK_UUID}"], {}, "invoices", "Línea 1: tiene UUID y serie/folio a la vez"),
    ([OK_UUID, "FAC 1", OK_UUID.lower()], {}, "invoices", "Línea 3: repite la línea 1."),
    (MANY, {}, "invoices", "Son 5 facturas; el máximo por solicitud es 4."),
    ([], {}, "invoices", "Escribe al menos una factura."),
    ([OK_UUID], {"reason": "01"}, "replacement", "requiere la factura que sustituye"),
    ([OK_UUID], {"reason": "01", "replacement": "nope"}, "replacement", "«nope» no es un UUID"),
    ([OK_UUID], {"reason": "01", "replacement": OK_UUID}, "replacement",
     "no puede ser una de las que se cancelan"),
    (["FAC 1"], {"reason": "01", "replacement": "fac-1"}, "replacement",
     "no puede ser una de las que se cancelan"),
    ([OK_UUID], {"replacement": SEED_204}, "replacement", "Solo se indica con el motivo 01."),
    ([OK_UUID], {"reason": None}, "reason", "Elige un motivo."),
    ([OK_UUID], {"justification": "   "}, "justification", "Escribe la justificación."),
    # Refused on the form, on the line that has it (a NUL used to reach the provider).
    (["FAC\x00 1001"], {}, "invoices",
     "Línea 1: tiene un carácter de control o de dirección de texto (U+0000)"),
    ([OK_UUID, "FAC\u202e 1"], {}, "invoices", "Línea 2: tiene un carácter de control o de "
     "dirección de texto (U+202E)"),
    (["FAC 1", "FAC\u200b 1"], {}, "invoices", "Línea 2: repite la línea 1."),
    (["3F2A9C10-4D1B-4E8A-9C21-01234567890"], {}, "invoices",
     "Línea 1: «3F2A9C10-4D1B-4E8A-9C21-01234567890» parece un UUID mal escrito"),
    ([OK_UUID], {"justification": " \x00 \n\u200b"}, "justification",
     "Escribe la justificación."),
    ([OK_UUID], {"justification": "Duplicada\nver\x07 nota"}, "justification",
     "Línea 2: tiene un carácter de control"),
    ([OK_UUID], {"notify": [f"U0P{n:06d}" for n in range(1000)]}, "notify",
     "Son 1000 personas; el máximo es 20."),
])
@pytest.mark.parametrize("stage", [{"max_invoices": 4}], indirect=True)
async def test_each_modal_error_is_shown_on_its_field_and_writes_nothing(
        stage: Stage, lines: list[str], fields: dict[str, Any], block: str,
        expected: str) -> None:
    answer = await ask(stage, "U0ANA", lines, **fields)
    assert answer.status_code == 200
    body = answer.json()
    assert body["response_action"] == "errors"
    assert expected in body["errors"][block], body
    assert queries.events(stage.runtime.store) == []
    assert stage.slack.channel_messages(APPROVALS) == []


async def test_a_value_past_the_inputs_limit_is_refused_if_it_ever_arrives(
        stage: Stage) -> None:
    """Slack's client never submits more than an input's max_length (the stand-in refuses
    it too); a payload built by hand still gets the error on its field."""
    assert (await stage.driver.command("U0ANA", "cancelar", FINANCE)).status_code == 200
    await stage.settle()
    answer = await stage.driver.submit_view(
        "U0ANA", stage.driver.last_view(), {"invoices": OK_UUID, "reason": "02",
                                            "justification": "x" * 1001},
        past_the_client=True)
    assert "tiene 1001 caracteres; el máximo es 1000" in answer.json()["errors"][
        "justification"]
    assert queries.events(stage.runtime.store) == []


async def test_reason_01_by_serie_and_folio_travels_in_the_pipe(stage: Stage) -> None:
    card = await card_of(stage, lines=["FAC 1001"], reason="01", replacement="FAC 1002")
    assert "FAC-1002" in texts(card)
    await click(stage, "U0BETO", card)
    assert b"<folio>1001</folio>" in stage.pac.last_request
    assert b"<uuid>|01||1002|FAC</uuid>" in stage.pac.last_request
    assert request_row(stage)["status"] == "completed"


async def test_an_invoice_already_requested_elsewhere_is_refused(stage: Stage) -> None:
    await card_of(stage, lines=[OK_UUID])
    answer = await ask(stage, "U0ANA", [SEED_204, OK_UUID])
    assert "Línea 2: ya está «Solicitada» en la solicitud #1." in \
        answer.json()["errors"]["invoices"]
    assert stage.runtime.store.db["requests"].count == 1


async def test_a_double_click_and_two_approvers_at_once_submit_once(stage: Stage) -> None:
    card = await card_of(stage)
    first = stage.driver.click_body("U0BETO", APPROVALS, card.ts, APPROVE_ACTION)
    other = stage.driver.click_body("U0CARLA", APPROVALS, card.ts, APPROVE_ACTION)
    answers = await asyncio.gather(stage.driver.post(first), stage.driver.post(first),
                                   stage.driver.post(other))
    assert [a.status_code for a in answers] == [200, 200, 200]
    await stage.settle()
    assert stage.pac.calls["cancelar"] == 1  # one submission; the SAT confirms the 201
    assert stage.pac.asked[OK_UUID] == 1
    assert actions(stage).count("request_approved") == 1
    assert actions(stage).count("refused_already_decided") + \
        actions(stage).count("refused_already_voted") == 2
    replies = [texts(m) for m in stage.slack.thread(APPROVALS, card.ts)]
    assert sum("aprobó" in r for r in replies) == 1
    assert request_row(stage)["status"] == "completed"


async def test_a_retried_delivery_of_the_same_submission_creates_one_request(
        stage: Stage) -> None:
    await stage.driver.command("U0ANA", "cancelar", FINANCE)
    await stage.settle()
    body = stage.driver.view_body("U0ANA", stage.driver.last_view(), {
        "invoices": OK_UUID, "reason": "02", "justification": "duplicada"})
    await stage.driver.post(body)
    await stage.driver.post(body, retry_num=1)
    await stage.settle()
    assert stage.runtime.store.db["requests"].count == 1
    assert len(stage.slack.channel_messages(APPROVALS)) == 1


async def test_a_redelivered_form_is_answered_as_the_first_time_not_with_an_error(
        stage: Stage) -> None:
    """Slack delivers a form again when the first answer seemed late (HTTP retries, Socket
    Mode re-delivery): the second answer must close the form as the first did, not say that
    its invoices are taken (by its own request)."""
    await stage.driver.command("U0ANA", "cancelar", FINANCE)
    await stage.settle()
    body = stage.driver.view_body("U0ANA", stage.driver.last_view(), {
        "invoices": OK_UUID, "reason": "02", "justification": "duplicada"})
    first = await stage.driver.post(body)
    again = await stage.driver.post(body, retry_num=1)
    await stage.settle()
    assert first.status_code == again.status_code == 200
    assert "errors" not in first.text and "errors" not in again.text, again.text
    assert stage.runtime.store.db["requests"].count == 1


async def test_a_provider_outage_fails_clearly_and_an_approver_can_retry(stage: Stage) -> None:
    stage.pac.state.transient_failures = 99
    card = await card_of(stage, lines=[uuid_with("503")])
    await click(stage, "U0BETO", card)
    assert request_row(stage)["status"] == "failed"
    failure = stage.slack.thread(APPROVALS, card.ts)[-1]
    assert "no se pudo enviar la solicitud #1 al proveedor" in texts(failure)
    assert "un aprobador puede reintentar" in texts(failure)
    assert buttons(failure) == [RESUBMIT_ACTION]
    assert "Fallidas 1" in texts(stage.slack.message(APPROVALS, card.ts))
    stage.pac.state.transient_failures = 0
    await click(stage, "U0DIEGO", failure, RESUBMIT_ACTION)  # not an approver: refused
    assert request_row(stage)["status"] == "failed"
    await click(stage, "U0CARLA", failure, RESUBMIT_ACTION)
    assert request_row(stage)["status"] == "completed"
    assert "*Cancelada*" in texts(stage.slack.thread(APPROVALS, card.ts)[-1])


async def test_credential_errors_alert_the_admin_channel_once_an_hour(stage: Stage) -> None:
    for n in (1, 2):
        card = await card_of(stage, lines=[uuid_with("601", n)])
        await click(stage, "U0BETO", card)
        assert "credenciales" in texts(stage.slack.thread(APPROVALS, card.ts)[-1])
    alerts = stage.slack.channel_messages(ADMIN)
    assert len(alerts) == 1 and "601" in texts(alerts[0])


async def test_a_429_from_slack_is_waited_out(stage: Stage) -> None:
    stage.slack.fail("chat.postMessage", "ratelimited", retry_after=1)
    card = await card_of(stage)
    posts = stage.slack.calls_of("chat.postMessage")
    assert [c.error for c in posts[:2]] == ["ratelimited", None]
    assert posts[1].at - posts[0].at >= 0.9  # Retry-After was honoured
    assert request_row(stage)["thread_ts"] == card.ts


@pytest.mark.parametrize("stage", [{"slow_s": 10.0, "_no_drain": True}], indirect=True)
async def test_the_click_is_answered_before_a_slow_provider(stage: Stage) -> None:
    card = await card_of(stage, lines=[uuid_with("900")])
    answered = stage.pac.answers_sent  # the invoice's facts were looked up after the card
    answer = await stage.driver.click("U0BETO", APPROVALS, card.ts, APPROVE_ACTION)
    assert answer.status_code == 200
    await asyncio.sleep(0.3)  # the submission has started: the provider holds the call
    assert stage.pac.calls["cancelar"] == 1
    assert stage.pac.answers_sent == answered  # and has not answered it yet
    assert request_row(stage)["status"] == "submitting"


async def test_reject_asks_a_reason_then_tells_the_thread_and_the_requester(
        stage: Stage) -> None:
    card = await card_of(stage)
    await click(stage, "U0BETO", card, REJECT_ACTION)
    modal = stage.driver.last_view()
    empty = await stage.driver.submit_view("U0BETO", modal, {"reject_reason": "  "})
    assert "Escribe el motivo del rechazo." in empty.json()["errors"]["reject_reason"]
    assert request_row(stage)["status"] == "awaiting_approval"
    done = await stage.driver.submit_view("U0BETO", modal,
                                          {"reject_reason": "<!channel> no procede"})
    assert done.status_code == 200
    await stage.settle()
    assert request_row(stage)["status"] == "rejected"
    shown = texts(stage.slack.message(APPROVALS, card.ts))
    assert "Rechazada por <@U0BETO>" in shown and "&lt;!channel&gt; no procede" in shown
    assert buttons(stage.slack.message(APPROVALS, card.ts)) == []
    assert "rechazó la solicitud" in texts(stage.slack.thread(APPROVALS, card.ts)[-1])
    assert "fue rechazada" in texts(stage.slack.dms("U0ANA")[-1])
    assert stage.pac.calls["cancelar"] == 0


@pytest.mark.parametrize("stage", [{"required_approvals": 2}], indirect=True)
async def test_two_distinct_approvals_are_needed(stage: Stage) -> None:
    card = await card_of(stage)
    await click(stage, "U0BETO", card)
    assert request_row(stage)["status"] == "awaiting_approval"
    assert "Aprobaciones: <@U0BETO> (1 de 2)" in texts(stage.slack.message(APPROVALS, card.ts))
    await click(stage, "U0BETO", card)  # the same person again does not count
    assert request_row(stage)["status"] == "awaiting_approval"
    assert "Ya registraste tu decisión" in stage.slack.ephemerals[-1]["text"]
    await click(stage, "U0CARLA", card)
    assert request_row(stage)["status"] == "completed"


@pytest.mark.parametrize("stage", [{"required_approvals": 0}], indirect=True)
async def test_without_approvals_the_request_is_submitted_at_once(stage: Stage) -> None:
    card = await card_of(stage)
    assert request_row(stage)["status"] == "completed"
    assert buttons(stage.slack.message(APPROVALS, card.ts)) == []
    assert "no requiere aprobación" in stage.slack.ephemerals[-1]["text"]
    # The log says what happened: no approval was needed (not "approved by 0").
    assert "approval_not_needed" in actions(stage) and "request_approved" not in actions(stage)


@pytest.mark.parametrize("stage", [{"requesters": ["U0ANA"]}], indirect=True)
async def test_only_listed_requesters_may_ask(stage: Stage) -> None:
    answer = await stage.driver.command("U0DIEGO", "cancelar", FINANCE)
    assert "No tienes permiso" in answer.json()["text"]
    assert "SANDBOX" in json.dumps(answer.json()["blocks"], ensure_ascii=False)
    assert stage.slack.calls_of("views.open") == []
    await stage.settle()  # the refusal is audited after the answer
    assert actions(stage) == ["refused_requester"]


@pytest.mark.parametrize("stage", [{"approval_ttl_h": 0.0001}], indirect=True)
async def test_requests_waiting_too_long_expire(stage: Stage) -> None:
    card = await card_of(stage)
    await asyncio.sleep(0.5)
    assert await stage.runtime.services.lifecycle.expire() == [1]
    assert request_row(stage)["status"] == "expired"
    assert buttons(stage.slack.message(APPROVALS, card.ts)) == []
    assert "venció sin aprobación" in texts(stage.slack.thread(APPROVALS, card.ts)[-1])
    assert "venció" in texts(stage.slack.dms("U0ANA")[-1])
    await click(stage, "U0BETO", card, APPROVE_ACTION) if buttons(card) else None
    assert stage.pac.calls["cancelar"] == 0


async def test_typed_text_cannot_ping_the_channel_or_hide_links(stage: Stage) -> None:
    card = await card_of(stage, justification="<!channel> ver <https://evil.example|aquí> & ya")
    shown = texts(card)
    assert "<!channel>" not in shown and "<https://evil" not in shown
    assert "&lt;!channel&gt; ver &lt;https://evil.example|aquí&gt; &amp; ya" in shown


@pytest.mark.parametrize("text", ["", "ayuda", "help", "lo que sea"])
async def test_help_lists_every_subcommand(stage: Stage, text: str) -> None:
    answer = await stage.driver.command("U0ANA", text, FINANCE)
    shown = json.dumps(answer.json(), ensure_ascii=False)
    for word in ("/cfdi cancelar", "/cfdi enviar", "/cfdi estado", "/cfdi historial",
                 "/cfdi ayuda"):
        assert word in shown


@pytest.mark.parametrize("stage", [{"watch_backoff_s": [0.1]}], indirect=True)
async def test_a_resolved_pending_invoice_is_told_in_its_thread(stage: Stage) -> None:
    card = await card_of(stage, lines=[uuid_with("A11"), OK_UUID])
    await click(stage, "U0BETO", card)
    assert request_row(stage)["status"] == "submitted"
    await asyncio.sleep(0.6)  # the sandbox resolves after 0.5 s
    assert len((await stage.runtime.watcher.cycle()).changed) == 1
    resolved = texts(stage.slack.thread(APPROVALS, card.ts)[-1])
    assert "<@U0ANA>" in resolved and "*Cancelada*: el receptor aceptó" in resolved
    assert "La solicitud #1 terminó" in resolved
    assert request_row(stage)["status"] == "completed"
    assert "Canceladas 2 · Pendientes 0" in texts(stage.slack.message(APPROVALS, card.ts))
    assert (await stage.runtime.watcher.cycle()).changed == []  # nothing twice


async def test_provider_words_for_an_unknown_code_are_shown_inert(stage: Stage) -> None:
    """Text the provider wrote reaches the thread escaped: no `<!channel>`, no link."""
    words = "Avise a <!channel> y entre a <https://phish.example/login|su portal> & <@U0BETO>"
    stage.pac.state.answer = (  # type: ignore[method-assign]
        lambda key, code: Answer("299", None, words))
    card = await card_of(stage)
    await click(stage, "U0BETO", card)
    reply = texts(stage.slack.thread(APPROVALS, card.ts)[-1])
    assert "299" in reply
    assert "&lt;!channel&gt;" in reply and "&lt;https://phish.example/login|su portal&gt;" in reply
    assert "<!channel>" not in reply and "<https://phish" not in reply
    assert "&lt;@U0BETO&gt;" in reply and "&amp;" in reply


@pytest.mark.parametrize("stage", [{"pending_alert_h": 0.0001, "watch_backoff_s": [0.1]}],
                         indirect=True)
async def test_a_serie_in_the_long_pending_alert_is_shown_inert(stage: Stage) -> None:
    card = await card_of(stage, lines=["<!here>&X 211"])  # folio …211: pending in the sandbox
    await click(stage, "U0BETO", card)
    assert request_row(stage)["status"] == "submitted"
    await asyncio.sleep(0.5)  # past the 0.36 s alert threshold
    await stage.runtime.watcher.cycle()
    (alert,) = stage.slack.channel_messages(ADMIN)
    shown = texts(alert)
    assert "`&lt;!HERE&gt;&amp;X-211`" in shown and "<!" not in shown


async def test_a_braced_uuid_and_a_19_digit_folio_are_requested_and_cancelled(
        stage: Stage) -> None:
    folio = 2**63 - 1  # the largest xs:long; the sandbox answers by its last digits (807)
    card = await card_of(stage, lines=["{" + OK_UUID.lower() + "}", f"FAC {folio}"])
    assert f"`{OK_UUID}`" in texts(card) and f"`FAC-{folio}`" in texts(card)
    await click(stage, "U0BETO", card)
    assert request_row(stage)["status"] == "completed"
    invoices = queries.request_invoices(stage.runtime.store, 1)
    assert [(i["folio"], i["status"]) for i in invoices] == [(None, "canceled"),
                                                              (folio, "canceled")]

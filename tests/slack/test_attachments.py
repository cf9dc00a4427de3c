"""The invoices' XML attached to the cancel form, end to end through the stand-ins: checked
by name at the answer, downloaded with the bot's token after it, read and matched to the
form's invoices; a good file is that invoice's facts (the provider is not asked for it), a bad
one is an error under the files field naming it, and nothing is written."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.invoices import cfdi_xml
from bot.sandbox.stage import ADMIN, APPROVALS, FINANCE, Stage
from bot.slack.forms import INVOICES, XML_FILES
from bot.slack.io import DownloadError
from storage import queries
from tests.helpers import ask_with_files, texts, uuid_with


def xml_of(stage: Stage, uuid: str) -> bytes:
    return cfdi_xml(stage.pac.book.get(uuid))


def the_form(stage: Stage) -> dict[str, Any]:
    """The cancel modal as the person sees it now."""
    return stage.driver.last_view()


def problem_under(view: dict[str, Any], block_id: str) -> str:
    """The note shown right under an input of the form."""
    blocks = view["blocks"]
    at = next(n for n, b in enumerate(blocks) if b.get("block_id") == block_id)
    note = blocks[at + 1]
    assert note["type"] == "context" and note["block_id"] == f"{block_id}_problem"
    return " ".join(e["text"] for e in note["elements"])


def nothing_written(stage: Stage) -> None:
    assert queries.get_request(stage.runtime.store, 1) is None
    assert not [e for e in queries.events(stage.runtime.store)
                if e["action"] == "request_created"]
    assert not stage.slack.channel_messages(APPROVALS)


def facts_events(stage: Stage) -> list[dict[str, Any]]:
    return [json.loads(e["details"]) for e in queries.events(stage.runtime.store)
            if e["action"] == "invoice_facts"]


async def test_an_attached_xml_is_the_invoices_facts_and_the_provider_is_not_asked(
        stage: Stage) -> None:
    attached, other = uuid_with("A11", 21), uuid_with("000", 22)
    answer = await ask_with_files(stage, [("factura-21.xml", xml_of(stage, attached))],
                                  lines=[attached, other])
    said = answer.json()  # answered at once: "checking", the download comes after
    assert said["response_action"] == "update" and "Revisando 1 archivo" in json.dumps(
        said["view"], ensure_ascii=False)
    assert stage.pac.calls["descargarXML"] == 1  # only for the invoice without a file
    shown = texts(stage.slack.channel_messages(APPROVALS)[-1])
    facts = stage.pac.book.get(attached)
    assert f"{facts.receiver_name} ({facts.receiver_rfc})" in shown
    assert "del XML adjunto «factura-21.xml»" in shown
    assert shown.count("SAT: Vigente") == 2  # the SAT was asked with the attached facts
    by_ref = {e["invoice"]["uuid"]: e for e in facts_events(stage)}
    assert by_ref[attached]["source"] == "attached"
    assert by_ref[attached]["file"] == "factura-21.xml" and len(by_ref[attached]["sha256"]) == 64
    assert by_ref[other]["source"] == "provider"
    assert "Solicitud #1 registrada" in json.dumps(the_form(stage), ensure_ascii=False)
    (download,) = stage.slack.calls_of("url_private")
    assert download.error is None


async def test_a_file_that_is_not_a_cfdi_is_an_error_naming_it(
        stage: Stage, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    uuid = uuid_with("000", 23)
    await ask_with_files(stage, [("notas.xml", b"<notas><nota>secreto</nota></notas>")],
                         lines=[uuid], justification="Duplicada")
    nothing_written(stage)
    assert "secreto" not in caplog.text  # a file's content is never logged
    form = the_form(stage)
    assert form["callback_id"] == "cfdi_cancel"
    assert problem_under(form, XML_FILES).startswith(
        "⚠️ «notas.xml» no es un CFDI que el bot pueda leer: no es un comprobante (CFDI).")
    typed = {b["block_id"]: b["element"] for b in form["blocks"] if b["type"] == "input"}
    assert typed[INVOICES]["initial_value"] == uuid  # what was typed is kept
    assert typed["justification"]["initial_value"] == "Duplicada"
    assert typed["reason"]["initial_option"]["value"] == "02"
    assert stage.pac.calls["descargarXML"] == 0


async def test_an_xml_of_an_invoice_not_in_the_form_is_an_error_naming_it(
        stage: Stage) -> None:
    asked, other = uuid_with("000", 24), uuid_with("000", 25)
    await ask_with_files(stage, [("otra.xml", xml_of(stage, other))], lines=[asked])
    nothing_written(stage)
    assert problem_under(the_form(stage), XML_FILES) == (
        f"⚠️ «otra.xml» es la factura {other}, que no está entre las facturas del formulario."
        " Si adjuntaste XML, vuelve a adjuntarlos: Slack no los conserva al devolver el "
        "formulario.")
    # Corrected and sent again from the same modal: recorded.
    await stage.driver.submit_view("U0ANA", the_form(stage), {
        INVOICES: asked, "reason": "02", "justification": "Duplicada",
        XML_FILES: [stage.driver.attach("U0ANA", "buena.xml", xml_of(stage, asked))]})
    await stage.settle()
    assert queries.get_request(stage.runtime.store, 1) is not None
    assert facts_events(stage)[0]["file"] == "buena.xml"


async def test_a_download_slack_refuses_is_a_truthful_error(stage: Stage) -> None:
    stage.slack.scopes.remove("files:read")  # Slack then answers its sign-in page, with 200
    await ask_with_files(stage, [("factura.xml", xml_of(stage, uuid_with("000", 26)))],
                         lines=[uuid_with("000", 26)])
    nothing_written(stage)
    assert "No se pudo leer «factura.xml»: Slack no le entregó el archivo al bot" in \
        problem_under(the_form(stage), XML_FILES)
    (download,) = stage.slack.calls_of("url_private")
    assert download.error == "sign_in_page"
    assert "files:read" in texts(stage.slack.channel_messages(ADMIN)[-1])


async def test_a_wrong_token_gets_the_sign_in_page_never_the_file(stage: Stage) -> None:
    shared = stage.driver.attach("U0ANA", "f.xml", b"<x/>")
    io = stage.runtime.services.io
    io.client.token, token = "xoxb-someone-else", io.client.token
    try:
        with pytest.raises(DownloadError, match="refused: sign-in page"):
            await io.download(shared["url_private_download"], 1000)
    finally:
        io.client.token = token
    assert await io.download(shared["url_private"], 1000) == b"<x/>"
    with pytest.raises(DownloadError, match="too_large"):
        await io.download(shared["url_private"], 3)
    with pytest.raises(DownloadError, match="not_slack"):  # the token never leaves Slack
        await io.download("https://example.com/files-pri/x.xml", 1000)


async def test_a_file_not_named_xml_is_refused_in_the_answer(stage: Stage) -> None:
    answer = await ask_with_files(stage, [("factura.pdf", b"hola")],
                                  lines=[uuid_with("000", 27)])
    said = answer.json()
    assert said["response_action"] == "errors"
    assert said["errors"] == {XML_FILES: "«factura.pdf» no es un archivo .xml ni una lista de "
                                         "facturas (.csv, .txt, .tsv o .xlsx)."}
    assert not stage.slack.calls_of("url_private")  # nothing asked of Slack
    nothing_written(stage)


async def test_names_are_escaped_on_the_card_and_shown_as_written_on_the_form(
        stage: Stage) -> None:
    uuid = uuid_with("000", 28)
    await ask_with_files(stage, [("<!channel> & co.xml", xml_of(stage, uuid))], lines=[uuid])
    card = texts(stage.slack.channel_messages(APPROVALS)[-1])
    assert "«&lt;!channel&gt; &amp; co.xml»" in card and "<!channel>" not in card
    await ask_with_files(stage, [("mal\u202elmx.xml", b"nada")], lines=[uuid_with("000", 29)])
    assert "«mal?lmx.xml» no es un CFDI" in problem_under(the_form(stage), XML_FILES)


async def test_two_files_of_one_invoice_name_both(stage: Stage) -> None:
    uuid = uuid_with("000", 30)
    await ask_with_files(stage, [("a.xml", xml_of(stage, uuid)), ("b.xml", xml_of(stage, uuid))],
                         lines=[uuid])
    nothing_written(stage)
    assert f"«b.xml» y «a.xml» son la misma factura ({uuid})" in problem_under(
        the_form(stage), XML_FILES)


async def test_the_stand_in_refuses_a_stale_hash(stage: Stage) -> None:
    client = AsyncWebClient(token=stage.settings.slack_bot_token.get_secret_value(),
                            base_url=stage.slack.api_url)
    view = stage.slack.views[stage.slack._views_open(  # a modal, as views.open leaves it
        {"trigger_id": stage.slack.issue_trigger(), "view": {
            "type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": []}})
        ["view"]["id"]]
    stale = view["hash"]
    new = {"type": "modal", "title": {"type": "plain_text", "text": "y"}, "blocks": []}
    await client.views_update(view_id=view["id"], hash=stale, view=new)
    with pytest.raises(SlackApiError, match="hash_conflict"):
        await client.views_update(view_id=view["id"], hash=stale, view=new)


async def test_an_invoice_requested_meanwhile_is_an_error_and_nothing_is_written(
        stage: Stage) -> None:
    uuid = uuid_with("000", 31)
    for _ in range(2):  # two people open the form
        await stage.driver.command("U0ANA", "cancelar", FINANCE)
    await stage.settle()
    with_files, without = list(stage.slack.views.values())[-2:]
    stage.slack.file_delay_s = 0.3  # the download is slow: the other form is sent meanwhile
    fields = {INVOICES: uuid, "reason": "02", "justification": "Duplicada"}
    await stage.driver.submit_view("U0ANA", with_files, {
        **fields, XML_FILES: [stage.driver.attach("U0ANA", "f.xml", xml_of(stage, uuid))]})
    answer = await stage.driver.submit_view("U0ANA", without, fields)
    assert answer.status_code == 200 and not answer.content  # recorded at once: request #1
    await stage.settle()
    shown = problem_under(stage.slack.views[with_files["id"]], INVOICES)
    assert "ya está «Solicitada» en la solicitud #1" in shown
    assert queries.get_request(stage.runtime.store, 2) is None
    assert [e["source"] for e in facts_events(stage)] == ["provider"]


async def test_a_modal_closed_meanwhile_gets_the_errors_in_a_message(stage: Stage) -> None:
    uuid = uuid_with("000", 32)
    await stage.driver.command("U0ANA", "cancelar", FINANCE)
    await stage.settle()
    form = stage.driver.last_view()
    stage.slack.file_delay_s = 0.3
    await stage.driver.submit_view("U0ANA", form, {
        INVOICES: uuid, "reason": "02", "justification": "Duplicada",
        XML_FILES: [stage.driver.attach("U0ANA", "nada.xml", b"nada")]})
    stage.slack.closed.add(form["id"])  # the person closes the "checking" modal
    await stage.settle()
    nothing_written(stage)
    (told,) = [e for e in stage.slack.ephemerals if e["user"] == "U0ANA"]
    assert "Tu solicitud de cancelación no se registró: «nada.xml» no es un CFDI" in told["text"]


async def test_an_xml_the_sat_does_not_know_shows_so(stage: Stage) -> None:
    uuid = uuid_with("000", 33)
    altered = stage.pac.book.get(uuid).model_copy(update={"total": "1.00"})
    await ask_with_files(stage, [("retocada.xml", cfdi_xml(altered))], lines=[uuid])
    shown = texts(stage.slack.channel_messages(APPROVALS)[-1])
    assert "$1.00 MXN" in shown and "del XML adjunto «retocada.xml»" in shown
    assert "SAT: No encontrado" in shown  # the SAT's record disagrees with the file


async def test_files_slack_did_not_describe_are_an_unreadable_payload(stage: Stage) -> None:
    await stage.driver.command("U0ANA", "cancelar", FINANCE)
    await stage.settle()
    answer = await stage.driver.submit_view("U0ANA", stage.driver.last_view(), {
        INVOICES: uuid_with("000", 35), "reason": "02", "justification": "x",
        XML_FILES: [{"id": "F1", "name": 7}]})
    assert answer.json() == {"response_action": "errors", "errors": {
        INVOICES: "No pude leer lo que Slack envió para esta acción; no se hizo nada. "
                  "Inténtalo de nuevo y, si se repite, avisa a los administradores."}}
    nothing_written(stage)

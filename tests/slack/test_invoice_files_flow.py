"""A month-end list of invoices attached to the cancel form, through the real flow: signed
Slack requests into the bot, the Slack stand-in, the sandbox provider on its SOAP wire, a
real SQLite file. Each invoice goes to the provider with its own reason and replacement."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from bot.sandbox.block_kit import view_problems
from bot.sandbox.pac_rules import uuid_for_folio
from bot.sandbox.slack_driver import NotSubmitted
from bot.sandbox.stage import APPROVALS, FINANCE, Stage
from storage import queries
from storage.export import select_events, write
from tests.helpers import click, uuid_with

ANA = "U0ANA"


def month_end(stage: Stage, count: int, seed: int) -> tuple[list[list[Any]], dict[Any, str]]:
    """`count` rows mixing reasons 01-04 (blank: the form's 02), invoices by UUID or by serie
    + folio, each 01 with its own replacement issued by the sandbox (by UUID or by serie +
    folio); and the `uuid` pipe the provider must receive for each invoice (by UUID, or by
    (serie, folio) when named so)."""
    rows: list[list[Any]] = [["Folio fiscal", "Serie", "Folio", "Motivo", "Sustitución"]]
    wire: dict[Any, str] = {}
    for n in range(count):
        by_folio = n % 5 == 4
        uuid = None if by_folio else uuid_with("C21", seed * 100_000 + n)
        serie, folio = ("M", seed * 100_000 + n * 1000 + 21) if by_folio else (None, None)
        key = (serie, str(folio)) if by_folio else uuid
        cancelled = uuid or uuid_for_folio(serie, folio)
        reason = ["01", "02", "03", "04", ""][n % 5 if n % 7 else 0]
        replacement, tail = "", ""
        if reason == "01" and n % 2:
            made = stage.pac.book.replace(cancelled)
            replacement, tail = made.uuid, made.uuid
        elif reason == "01":
            made = stage.pac.book.replace(cancelled, serie="R", folio=seed * 100_000 + n)
            replacement, tail = f"R {made.folio}", f"|{made.folio}|R"
        rows.append([uuid or "", serie or "", folio or "", reason, replacement])
        wire[key] = f"{uuid or ''}|{reason or '02'}|{tail}"
    return rows, wire


def as_csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=";").writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # as Excel saves "CSV UTF-8"


def as_xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:  # numbers as Excel keeps them: folios and reasons as numbers
        sheet.append([int(c) if isinstance(c, str) and c.isdigit() else c for c in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def submit_list(stage: Stage, name: str, content: bytes, lines: str = "",
                      **fields: Any) -> dict[str, Any]:
    """Ana opens the form, attaches the list and submits; the view she then sees."""
    assert (await stage.driver.command(ANA, "cancelar", FINANCE)).status_code == 200
    await stage.settle()
    view = stage.driver.last_view()
    attached = stage.driver.attach(ANA, name, content)
    answer = await stage.driver.submit_view(ANA, view, {
        "invoices": lines, "reason": "02", "justification": "Cierre de mes",
        "xml_files": [attached], **fields})
    assert answer.status_code == 200
    said = answer.json()
    assert said["response_action"] == "update" and "Revisando 1 archivo" in json.dumps(
        said["view"], ensure_ascii=False)  # answered at once; the file is read after
    await stage.settle()
    return stage.slack.views[view["id"]]


def shown(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


async def approve_and_check_wire(stage: Stage, wire: dict[Any, str]) -> None:
    card = stage.slack.channel_messages(APPROVALS)[0]
    await click(stage, "U0BETO", card)
    first = {}
    for pipe, serie, folio in stage.pac.cancel_pipes:
        key = (serie, folio) if serie else pipe.split("|")[0]
        first.setdefault(key, pipe)  # asked again later (confirming): the same pipe
        assert pipe == wire[key], key
    assert first == wire


@pytest.mark.parametrize("stage", [{"cfdi_batch_size": 50}], indirect=True)
async def test_a_1000_row_csv_sends_each_invoice_with_its_own_reason(stage: Stage) -> None:
    rows, wire = month_end(stage, 1000, seed=1)
    view = await submit_list(stage, "cierre-noviembre.csv", as_csv(rows))
    assert "Solicitud #1 registrada con 1000 factura(s), 1000 de la lista" in shown(view)
    invoices = queries.request_invoices(stage.runtime.store, 1)
    assert len(invoices) == 1000
    own = {i["ref_key"]: (i["reason"], i["replacement"]) for i in invoices}
    assert own[uuid_with("C21", 100_001)] == (None, None)        # 02: the request's
    assert own[uuid_with("C21", 100_002)] == ("03", None)
    created = next(e for e in queries.events(stage.runtime.store)
                   if e["action"] == "request_created")
    details = json.loads(created["details"])
    assert details["source"]["file"] == "cierre-noviembre.csv" and \
        details["source"]["rows"] == 1000
    assert details["invoice_reasons"][uuid_with("C21", 100_002)] == {
        "reason": "03", "replacement": None}
    await approve_and_check_wire(stage, wire)


async def test_a_300_row_xlsx_sends_each_invoice_with_its_own_reason(stage: Stage) -> None:
    rows, wire = month_end(stage, 300, seed=2)
    view = await submit_list(stage, "cierre.xlsx", as_xlsx(rows))
    assert "Solicitud #1 registrada con 300 factura(s)" in shown(view)
    await approve_and_check_wire(stage, wire)


async def test_typed_lines_and_a_list_together(stage: Stage) -> None:
    typed = uuid_with("C21", 7)
    rows = [["Factura", "Motivo"], [uuid_with("C21", 8), "03"], [typed, "04"]]
    view = await submit_list(stage, "lista.csv", as_csv(rows), lines=typed)
    assert "Fila 3: ya está en la línea 1 del formulario." in shown(view)
    assert queries.get_request(stage.runtime.store, 1) is None


async def test_a_list_with_bad_rows_comes_back_by_dm_and_nothing_is_written(
        stage: Stage) -> None:
    good, taken = uuid_with("C21", 1), uuid_with("C21", 2)
    rows = [["Factura", "Motivo", "Sustitución", "Cliente"],
            [good, "02", "", "Pérez"], ["FAC -7", "02", "", "Ruiz"],
            [taken, "01", "", "Mora"], ["FAC 1.23E+18", "", "", "Díaz"], [good, "03", "", "x"]]
    view = await submit_list(stage, "noviembre.csv", as_csv(rows))
    text = shown(view)
    assert "«noviembre.csv»: 4 fila(s) con problemas; nada se registró." in text
    assert "Fila 3: «FAC -7» tiene un folio negativo" in text
    assert "Fila 4: con el motivo 01 indica la factura que la sustituye" in text
    assert "(y 1 problema(s) más)" in text
    assert queries.get_request(stage.runtime.store, 1) is None  # nothing written
    [sent] = stage.slack.files_in(f"D{ANA}")
    assert sent["filename"] == "noviembre-errores.csv" and "4 fila(s)" in sent["comment"]
    back = list(csv.reader(io.StringIO(sent["content"].decode("utf-8-sig")), delimiter=";"))
    assert back[0] == ["Factura", "Motivo", "Sustitución", "Cliente", "error"]
    assert [row[:4] for row in back[1:]] == [row[:4] for row in rows[1:]]  # the whole file
    errors = [row[4] for row in back[1:]]
    assert errors[0] == "" and "folio negativo" in errors[1] and "motivo 01" in errors[2]
    assert "Excel" in errors[3] and errors[4] == "repite la fila 2."
    upload = next(c for c in stage.slack.calls if c.method == "files.getUploadURLExternal")
    assert int(upload.params["length"]) == len(sent["content"])


async def test_an_xlsx_with_bad_rows_comes_back_as_xlsx(stage: Stage) -> None:
    rows = [["Serie", "Folio", "Motivo"], ["FAC", 1001, 2], ["FAC", 1.23e18, 2]]
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    view = await submit_list(stage, "lista.xlsx", out.getvalue())
    assert "Fila 3: «1.23E+18» es un número que Excel convirtió" in shown(view)
    [sent] = stage.slack.files_in(f"D{ANA}")
    back = load_workbook(io.BytesIO(sent["content"])).active
    assert [c.value for c in back[3]][-1].startswith("«1.23E+18»")


async def test_a_typed_value_over_3000_characters_is_refused_by_slack(stage: Stage) -> None:
    assert (await stage.driver.command(ANA, "cancelar", FINANCE)).status_code == 200
    await stage.settle()
    view = stage.driver.last_view()
    field = next(b for b in view["blocks"] if b.get("block_id") == "invoices")
    assert field["element"]["max_length"] == 3000 and "adjunta una lista" in \
        field["hint"]["text"]
    lines = "\n".join(uuid_with("C21", n) for n in range(82))  # 82 × 37 − 1 = 3,033
    posts = len(stage.slack.calls)
    with pytest.raises(NotSubmitted) as refused:
        await stage.driver.submit_view(ANA, view, {
            "invoices": lines, "reason": "02", "justification": "x"})
    assert "3000 characters or fewer" in refused.value.errors["invoices"]
    await stage.settle()
    assert queries.get_request(stage.runtime.store, 1) is None
    assert len(stage.slack.calls) == posts  # the bot heard nothing, so said nothing


def test_the_stand_in_refuses_a_text_input_declaring_more_than_3000() -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": [
        {"type": "input", "block_id": "b", "label": {"type": "plain_text", "text": "x"},
         "element": {"type": "plain_text_input", "action_id": "v", "max_length": 3001}}]}
    assert any("max_length" in problem for problem in view_problems(view))


async def test_typed_reasons_reach_the_wire_the_events_and_the_export(stage: Stage) -> None:
    first, second, third = (uuid_with("C21", n) for n in (31, 32, 33))
    replacement = stage.pac.book.replace(first).uuid
    assert (await stage.driver.command(ANA, "cancelar", FINANCE)).status_code == 200
    await stage.settle()
    answer = await stage.driver.submit_view(ANA, stage.driver.last_view(), {
        "invoices": f"{first} 01 {replacement}\n{second} | 03\n{third}", "reason": "02",
        "justification": "Cierre"})
    assert answer.status_code == 200 and not answer.content, answer.text
    await stage.settle()
    card = stage.slack.channel_messages(APPROVALS)[0]
    assert f"`{first}` · motivo 01, la sustituye `{replacement}`" in json.dumps(
        card.blocks, ensure_ascii=False)
    await approve_and_check_wire(stage, {first: f"{first}|01|{replacement}",
                                         second: f"{second}|03|", third: f"{third}|02|"})
    out = io.StringIO()
    write(select_events(stage.runtime.store), out, "csv")
    exported = {(row["action"], row["invoice_ref"]): json.loads(row["details"])
                for row in csv.DictReader(io.StringIO(out.getvalue()))}
    assert exported["request_created", ""]["invoice_reasons"] == {
        first: {"reason": "01", "replacement": replacement},
        second: {"reason": "03", "replacement": None}}
    answered = exported["provider_answered", first]
    assert (answered["reason"], answered["replacement"]) == ("01", replacement)

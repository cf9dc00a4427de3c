"""Sending by e-mail, invoice status, history and the App Home, end to end over HTTP."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.stage import APPROVALS, FINANCE, Stage
from bot.slack.render.kit import APPROVE_ACTION
from handlers.commands import prefill
from storage import queries
from tests.helpers import OK_UUID, buttons, card_of, click, texts, uuid_with

ROOT = Path(__file__).parent.parent.parent


async def send(stage: Stage, lines: list[str], recipients: str, **fields: Any) -> Any:
    await stage.driver.command("U0ANA", "enviar " + " ".join(lines), FINANCE)
    await stage.settle()
    view = stage.driver.last_view()
    assert view["callback_id"] == "cfdi_send"
    typed = next(b for b in view["blocks"] if b.get("block_id") == "invoices")
    answer = await stage.driver.submit_view("U0ANA", view, {
        "invoices": typed["element"]["initial_value"], "recipients": recipients, **fields})
    await stage.settle()
    return answer


def last_ephemeral(stage: Stage) -> str:
    note = stage.slack.ephemerals[-1]
    blocks = note["blocks"] if isinstance(note["blocks"], list) else json.loads(note["blocks"])
    return "\n".join(b.get("text", {}).get("text", "") for b in blocks if b["type"] == "section")


async def test_send_to_every_recipient_and_audit_it(stage: Stage) -> None:
    other = uuid_with("000", 7)
    answer = await send(stage, [OK_UUID, other], "a@cliente.example; b@cliente.example",
                        subject="Sus facturas", attach=[])
    assert answer.status_code == 200 and not answer.content
    shown = last_ephemeral(stage)
    assert "Resultado del envío #1" in shown
    assert f"`{OK_UUID}` — *Enviada*" in shown and f"`{other}` — *Enviada*" in shown
    assert "a@cliente.example" in shown and "b@cliente.example" in shown
    assert stage.slack.ephemerals[-1]["user"] == "U0ANA"
    created = queries.events(stage.runtime.store)[0]
    details = json.loads(created["details"])
    assert details["recipients"] == ["a@cliente.example", "b@cliente.example"]
    assert details["invoices"] == [OK_UUID, other]
    assert details["send_options"] == {"subject": "Sus facturas", "message": None,
                                       "attach_pdf": False}
    assert b"<enviarPDF>false</enviarPDF>" in stage.pac.last_request
    assert f"<uuid>{other}</uuid>".encode() in stage.pac.last_request
    assert stage.slack.channel_messages(APPROVALS) == []  # no approval by default


async def test_a_recipient_the_provider_cannot_reach_is_shown_failed(stage: Stage) -> None:
    await send(stage, [OK_UUID], "ok@cliente.example\nfalla@cliente.example")
    shown = last_ephemeral(stage)
    # enviar answers for the whole call: 500 is "the provider could not send it", in the
    # provider's words, with no promise of a retry (none happens).
    assert "*Fallida*" in shown and "El proveedor no pudo enviar el correo." in shown
    assert "no se pudo entregar el correo" in shown and "reintent" not in shown
    assert stage.pac.calls["enviar"] == 1 and stage.pac.sent == []


async def test_a_provider_error_on_send_is_reported(stage: Stage) -> None:
    await send(stage, [uuid_with("601")], "a@cliente.example")
    shown = last_ephemeral(stage)
    assert "*Fallida*" in shown and "credenciales" in shown
    assert queries.get_request(stage.runtime.store, 1)["status"] == "failed"


@pytest.mark.parametrize(("recipients", "invoices", "block", "expected"), [
    ("a@cliente.example, nope", [OK_UUID], "recipients",
     "Destinatario 2: «nope» no es un correo válido."),
    ("a@x.example; A@x.example", [OK_UUID], "recipients", "Destinatario 2: «A@x.example» está"),
    ("", [OK_UUID], "recipients", "Escribe al menos un correo."),
    (",".join(f"u{n}@x.example" for n in range(21)), [OK_UUID], "recipients",
     "Son 21 destinatarios; el máximo es 20."),
    ("a@x.example", ["FAC 1X"], "invoices", "Línea 1: el folio «1X» no es un número."),
    ("a@x.example", ["FAC 7"], "invoices",
     "Línea 1: para enviar una factura por correo indícala por su UUID."),
])
async def test_bad_send_input_is_refused_on_its_field(stage: Stage, recipients: str,
                                                      invoices: list[str], block: str,
                                                      expected: str) -> None:
    answer = await send(stage, invoices, recipients)
    assert expected in answer.json()["errors"][block]
    assert queries.events(stage.runtime.store) == []
    assert stage.pac.calls["enviar"] == 0


@pytest.mark.parametrize("stage", [{"send_requires_approval": True}], indirect=True)
async def test_with_approval_a_send_goes_through_the_thread(stage: Stage) -> None:
    await send(stage, [OK_UUID], "a@cliente.example")
    assert stage.pac.calls["enviar"] == 0
    (card,) = stage.slack.channel_messages(APPROVALS)
    assert "Solicitud de envío por correo #1" in texts(card)
    assert "a@cliente.example" in texts(card)
    await click(stage, "U0BETO", card)
    assert stage.pac.calls["enviar"] == 1
    assert "*Enviada*" in texts(stage.slack.thread(APPROVALS, card.ts)[-1])


async def test_status_of_a_cancelled_a_pending_and_an_unknown_invoice(stage: Stage) -> None:
    card = await card_of(stage, lines=[OK_UUID, uuid_with("211")])
    await click(stage, "U0BETO", card)
    done = (await stage.driver.command("U0DIEGO", f"estado {OK_UUID.lower()}", FINANCE)).json()
    shown = json.dumps(done, ensure_ascii=False)
    assert "Historia de la factura" in shown and "*Cancelada*" in shown
    assert "Solicitud #1 (cancelación) — Terminada" not in shown  # one invoice still pending
    assert "creó la solicitud #1" in shown and "beto.ruiz · aprobó" in shown
    assert "el proveedor respondió: Pendiente (código sat:201)" in shown
    assert "el SAT confirmó la cancelación" in shown  # its status service settled the 201
    assert f"archives/{APPROVALS}/p{card.ts.replace('.', '')}" in shown
    pending = json.dumps((await stage.driver.command(
        "U0ANA", f"status {uuid_with('211')}", FINANCE)).json(), ensure_ascii=False)
    assert "*Pendiente*" in pending
    unknown = (await stage.driver.command("U0ANA", "estado FAC-404", FINANCE)).json()
    assert "No encontré la factura FAC-404" in unknown["text"]
    usage = (await stage.driver.command("U0ANA", "estado", FINANCE)).json()
    assert "/cfdi estado <UUID | SERIE-FOLIO>" in usage["text"]


async def test_history_for_oneself_and_for_others(stage: Stage) -> None:
    await card_of(stage)
    mine = (await stage.driver.command("U0ANA", "historial", FINANCE)).json()["text"]
    assert "Últimas solicitudes de <@U0ANA>" in mine and "#1 · cancelación · 1 factura(s)" in mine
    other = (await stage.driver.command("U0BETO", "historial <@U0ANA|ana> pendientes",
                                        FINANCE)).json()["text"]
    assert "Solicitudes abiertas de <@U0ANA>" in other and "Esperando aprobación" in other
    refused = (await stage.driver.command("U0DIEGO", "history <@U0ANA>", FINANCE)).json()
    assert "Solo los aprobadores" in refused["text"]
    await stage.settle()  # the refusal is audited after the answer
    assert [e["action"] for e in queries.events(stage.runtime.store)][-1] == \
        "refused_history_other"


async def test_the_home_of_a_requester_and_of_an_approver(stage: Stage) -> None:
    card = await card_of(stage)
    await stage.driver.open_home("U0ANA")
    await stage.driver.open_home("U0BETO")
    await stage.settle()
    ana = json.dumps(stage.slack.homes["U0ANA"], ensure_ascii=False)
    assert "Tus solicitudes recientes" in ana and "#1 · cancelación" in ana
    assert "Esperando tu decisión" not in ana  # not an approver
    beto = stage.slack.homes["U0BETO"]
    shown = json.dumps(beto, ensure_ascii=False)
    assert "Esperando tu decisión" in shown and "*#1* cancelación de <@U0ANA>" in shown
    assert "Cancelaciones pendientes (0)" in shown and "SANDBOX" in shown

    answer = await stage.driver.click_home("U0BETO", APPROVE_ACTION, "1")  # from the Home
    assert answer.status_code == 200
    await stage.settle()
    assert queries.get_request(stage.runtime.store, 1)["status"] == "completed"
    assert buttons(stage.slack.message(APPROVALS, card.ts)) == []
    refreshed = json.dumps(stage.slack.homes["U0BETO"], ensure_ascii=False)
    assert "Nada por decidir" in refreshed
    assert "Terminada" in json.dumps(stage.slack.homes["U0ANA"], ensure_ascii=False)


async def test_approving_from_the_home_follows_the_same_rules(stage: Stage) -> None:
    await card_of(stage, "U0BETO")  # Beto asks; Beto may not approve it, Home or not
    await stage.driver.open_home("U0CARLA")
    await stage.settle()
    await stage.driver.click_home("U0CARLA", APPROVE_ACTION, "1")
    await stage.driver.open_home("U0BETO")
    await stage.settle()
    assert "*#1*" not in json.dumps(stage.slack.homes["U0BETO"])  # own request not listed
    assert queries.get_request(stage.runtime.store, 1)["status"] == "completed"


def _visible_strings(path: Path) -> list[str]:
    """String literals that read like sentences, docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef |
                                ast.ClassDef)
                  and node.body and isinstance(node.body[0], ast.Expr)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings
            and len([w for w in node.value.split() if w.isalpha()]) >= 2]


def test_no_handler_carries_its_own_user_visible_strings() -> None:
    for path in sorted((ROOT / "handlers").glob("*.py")):
        assert _visible_strings(path) == [], path


@pytest.mark.parametrize(("typed", "lines"), [
    (f"{OK_UUID} FAC 7", [OK_UUID, "FAC 7"]),
    (f"FAC 7, FAC 8; {OK_UUID}", ["FAC 7", "FAC 8", OK_UUID]),
    (f"{OK_UUID} {uuid_with('000')}", [OK_UUID, uuid_with("000")]),
    ("", []),
])
def test_command_arguments_become_form_lines(typed: str, lines: list[str]) -> None:
    assert prefill(typed).splitlines() == lines


@pytest.mark.parametrize("stage", [{"send_requires_approval": True}], indirect=True)
async def test_typed_subject_and_recipients_are_inert_on_the_card(stage: Stage) -> None:
    await send(stage, [OK_UUID], "a@cliente.example", subject="<!channel> <https://x.example|y>")
    shown = texts(stage.slack.channel_messages(APPROVALS)[0])
    assert "<!channel>" not in shown and "<https://x.example" not in shown
    assert "&lt;!channel&gt; &lt;https://x.example|y&gt;" in shown

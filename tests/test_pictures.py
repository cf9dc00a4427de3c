"""The README's pictures are drawn from the bot's real Block Kit: the pages they are taken
from are checked here without Chromium (which CI does not have)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from slack_sdk.models import blocks as slack_blocks

from bot.i18n import t
from bot.sandbox import slack_html
from bot.sandbox.pictures import OUT, PICTURES, main
from bot.slack.render import modals

ROOT = Path(__file__).resolve().parent.parent


NOT_BLOCKS = {"mrkdwn", "plain_text", "modal", "home"}  # text objects and views


def _types_the_bot_builds() -> set[str]:
    """Every Block Kit block and element type a production module builds: the `"type": "…"`
    of a plain dict, or the type of a slack_sdk model class it names."""
    found: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        if "sandbox" in path.parts:
            continue
        source = path.read_text()
        found |= set(re.findall(r'"type":\s*"(\w+)"', source))
        for name in re.findall(r"\b(\w+(?:Block|Element))\b", source):
            model = getattr(slack_blocks, name, None)
            if isinstance(model, type) and isinstance(getattr(model, "type", None), str):
                found.add(model.type)
    return found - NOT_BLOCKS


def test_every_block_kit_type_the_bot_uses_can_be_drawn() -> None:
    built = _types_the_bot_builds()
    assert {"header", "section", "input", "button", "static_select"} <= built  # the scan works
    assert built <= slack_html.BLOCKS | slack_html.ELEMENTS
    render = slack_html.Renderer({"U0ANA": "ana.lopez"}, {}, "es")
    forms = [modals.cancel_modal(prefill="FAC 1", channel_id=None, limit=5, lang="es",
                                 sandbox=True),
             modals.send_modal(prefill="", channel_id=None, limit=5, lang="es", sandbox=True),
             modals.reject_modal({"id": 1, "requester_id": "U0ANA"}, lang="es", sandbox=True)]
    drawn = "".join(slack_html.modal(render, view, {}, {}) for view in forms)
    for kind in built & slack_html.BLOCKS - {"header", "divider", "actions", "section"}:
        assert f'class="block-{kind}' in drawn, kind
    assert "☑ Adjuntar el PDF" in drawn and "Elige el motivo ▾" in drawn
    with pytest.raises(ValueError, match="video"):
        render.blocks([{"type": "video"}])


def test_the_pages_show_what_people_saw(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path), "--html-only"]) == 0
    pages = {p.stem: p.read_text() for p in tmp_path.glob("*.html")}
    assert set(pages) == set(PICTURES)
    # The form: the error under the invoices field, what was typed kept.
    form = pages["form-error"]
    assert re.search(r'block-input invalid"><div class="label">Facturas</div>'
                     r'<div class="box multi">FAC 10O1</div><div class="error">Línea 1: '
                     r'el folio «10O1» no es un número.</div>', form)
    assert "02 — Comprobante emitido con errores sin relación ▾" in form
    # The card, with its results and replies; the thread, with the acknowledgment.
    assert '<div class="block-header">Solicitud de cancelación #1</div>' in pages["card"]
    assert "Canceladas 2 · Pendientes 1" in pages["card"] and "9 respuestas" in pages["card"]
    thread = pages["thread"]
    assert '<span class="mention">@ana.lopez</span>, esto respondió el proveedor' in thread
    assert "confirmación del SAT pendiente" in thread and "el SAT la muestra cancelada" in thread
    assert "acuse-solicitud-1.xml" in thread and "<code>E329DD15-7D0B-44E9-A204-51A7443D1FBE" \
        "</code> — <b>No cancelable</b>" in thread
    # The approver's App Home, with the request to decide and its buttons.
    home = pages["home"]
    assert t("home.to_decide", "es").strip("*") in home
    assert '<span class="button primary">Aprobar</span>' in home and "block-divider" in home
    assert "No enviada al proveedor" in pages["status"]
    assert t("picture.only_you", "es") in pages["status"]
    # A reminder with the card's buttons; the next morning's digest, oldest first.
    reminder, digest = pages["reminder"], pages["digest"]
    assert "La solicitud #1 espera tu decisión" in reminder
    assert '<span class="button primary">Aprobar</span>' in reminder
    assert "Esperan tu decisión (2)" in digest and digest.index("#1") < digest.index("#2")
    assert 'class="button' not in digest
    # The monthly report, with its chart inline and its spreadsheet.
    report = pages["report"]
    assert "Reporte de cancelaciones — 2026-11" in report and "*Facturas: 240*" not in report
    assert "<b>Facturas: 240</b>" in report and 'src="data:image/png;base64,' in report
    assert "reporte-cfdi-2026-11.xlsx" in report and "reporte-cfdi-2026-11.csv" in report
    for page in pages.values():  # the banner is drawn as Slack shows it, once a message
        assert "SANDBOX" in page
    drawn = "".join(pages.values())
    assert [k for k in ("header", "section", "context", "actions", "divider", "input")
            if f'class="block-{k}' not in drawn] == []


def test_mrkdwn_is_drawn_as_slack_draws_it() -> None:
    users, channels = {"U1": "ana"}, {"C1": "finanzas"}
    drawn = slack_html.mrkdwn("*Estado*\n>uno &lt;b&gt;\n`a_b_c` _x_ <@U1> <#C1> "
                              "<https://x.example/a_b|hilo> <!date^1^{time}|10:00 UTC>",
                              users, channels)
    assert drawn == ('<b>Estado</b><blockquote>uno &lt;b&gt;</blockquote>'
                     '<code>a_b_c</code> <i>x</i> <span class="mention">@ana</span> '
                     '<span class="mention">#finanzas</span> '
                     '<a href="https://x.example/a_b">hilo</a> 10:00 UTC')


def test_the_readme_shows_every_picture_and_they_are_small() -> None:
    shown = re.findall(r"\]\((docs/pictures/[\w-]+\.png)\)", (ROOT / "README.md").read_text())
    assert shown == [f"{OUT}/{name}.png" for name in PICTURES]
    sizes = [(ROOT / path).stat().st_size for path in shown]
    assert sum(sizes) < 400_000, sizes  # kept small in the repository (make pictures)

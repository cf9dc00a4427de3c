"""The words a finance team reads: one register (tú), mentions addressed with a comma,
statuses as states, the provider's words told apart from the bot's and said once, audit
actions in words, and a mistyped `/cfdi` word named back."""

from __future__ import annotations

import ast
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.actors import Actor
from bot.i18n import CATALOGUES, known, t
from bot.sandbox.stage import FINANCE, Stage
from bot.sat.refs import InvoiceRef
from bot.slack.render import history, replies
from bot.workflow.transitions import create_cancel_request, reject
from storage import queries
from storage.domain import ThreadLine
from storage.states import InvoiceStatus, RequestStatus
from storage.store import AuditStore

ROOT = Path(__file__).resolve().parent.parent.parent
ES, EN = CATALOGUES["es"], CATALOGUES["en"]
# Imperatives and pronouns of *usted* (Slack's Spanish interface says *tú*); not those that
# are also subjunctives after "que" (`Pide a un administrador que te agregue`).
USTED = ("elija", "escriba", "intente", "inténtelo", "indique", "revise", "reintente", "use",
         "pulse", "pida", "seleccione", "borre", "quite", "confirme", "confírmelo",
         "verifique", "espere", "defina", "cree", "usted", "ustedes")


def test_the_spanish_catalogue_says_tu_throughout() -> None:
    forbidden = re.compile(r"\b(" + "|".join(USTED) + r")\b", re.IGNORECASE)
    found = {key: forbidden.findall(text) for key, text in ES.items() if forbidden.search(text)}
    assert found == {}


@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_person_addressed_is_followed_by_a_comma(lang: str) -> None:
    """`@ana, …`: a mention followed by its sentence would read as its subject."""
    for key, text in CATALOGUES[lang].items():
        for after in re.findall(r"\{mention\}(.?)", text):
            assert after == ",", (key, text)
        assert not re.search(r"\{(mention|user)\} \{(mention|user)\}", text), (key, text)


@pytest.mark.parametrize("lang", ["es", "en"])
def test_statuses_read_as_states_without_jargon(lang: str) -> None:
    catalogue = CATALOGUES[lang]
    states = {k: v for k, v in catalogue.items() if k.startswith(("outcome.", "request."))}
    # A past-tense verb (`Falló`) is an event, not a state (`Fallida`, beside `Cancelada`).
    assert [k for k, v in states.items() if re.search(r"ó\b", v)] == []
    assert catalogue["outcome.failed"] == catalogue["request.failed"]
    jargon = "vigilante" if lang == "es" else "watcher"
    assert [k for k, v in catalogue.items() if jargon in v.lower()] == []
    assert [k for k, v in ES.items() if "enviada a aprobación" in v] == []


def test_the_provider_words_are_labelled_and_said_once() -> None:
    said = "El comprobante no se puede cancelar"
    line = replies.invoice_line(ThreadLine(ref="E329", status="not_cancelable", code="sat:204",
                                           detalle=said), "es")
    assert line == "`E329` — *No cancelable* · _el proveedor dice: «El comprobante no se " \
                   "puede cancelar»_"
    # A failure: why (the bot's words), then the provider's own, once.
    failed = replies.invoice_line(ThreadLine.of({"ref": "A", "status": "failed", "code": "timeout",
                                  "detalle": "Read timed out"}), "en")
    assert failed == ("`A` — *Failed*: The provider did not answer in time. · "
                      "_the provider says: “Read timed out”_")
    # An unknown code already quotes the provider: not twice.
    odd = replies.invoice_line(ThreadLine.of({"ref": "B", "status": "failed", "code": "777",
                               "detalle": "Algo <raro>"}), "es")
    assert odd.count("Algo &lt;raro&gt;") == 1
    # The SAT's nuance is read from the provider's words: those are not repeated.
    pending = replies.invoice_line(ThreadLine(ref="C", status="pending", code="sat:201",
                                              detalle="La cancelación está en proceso"), "es")
    assert pending == "`C` — *Pendiente*: el SAT sigue procesando la cancelación"


async def test_status_after_a_rejection_does_not_read_as_still_requested(
        store: AuditStore) -> None:
    ana, beto = Actor("U0ANA", "ana.lopez"), Actor("U0BETO", "beto.ruiz")
    request_id = await create_cancel_request(store, ana, [InvoiceRef(serie="FAC", folio=1001)],
                                             reason="02", justification="x")
    await reject(store, request_id, beto, "se corrige con nota de crédito")
    trail = queries.invoice_trail(store, serie="FAC", folio=1001)
    assert trail["invoices"][0]["status"] == InvoiceStatus.REJECTED
    shown = history.invoice_status("FAC-1001", trail, queries.requests_by_id(store, [request_id]),
                                   "es", False, lambda _: "hilo")
    text = "\n".join(b["text"]["text"] for b in shown["blocks"] if b["type"] == "section")
    assert "Rechazada — factura: *No enviada al proveedor*" in text
    assert t("outcome.requested", "es") not in text
    assert "beto.ruiz · la solicitud quedó rechazada" in text


def _recorded_actions() -> set[str]:
    """Every audit action the source records: the literal ones, a transition's `action=`
    or (without one) its default `<entity>_<status>`, an outage's alert and recovery, and
    the f-strings' known values."""
    statuses = {"RS": RequestStatus, "IS": InvoiceStatus}
    found: set[str] = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("storage/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name == "Refusal" and isinstance(node.args[0], ast.Constant):
                found.add(f"refused_{node.args[0].value}")
            elif name == "Outage":  # its alert's and its recovery's actions (watcher.py)
                found |= {a.value for a in node.args[2::2] if isinstance(a, ast.Constant)}
            elif name in ("record", "append", "audit", "tell_admins") and len(node.args) > 1:
                if isinstance(node.args[1], ast.Constant):
                    found.add(node.args[1].value)
            elif name == "transition" and len(node.args) > 2:
                action = next((k.value for k in node.keywords if k.arg == "action"), None)
                choices = [action.body, action.orelse] if isinstance(action, ast.IfExp) else [
                    action or ast.Constant(None)]  # an f-string (invoice_{to}) is added below
                named = [c.value for c in choices if isinstance(c, ast.Constant)]
                found |= {n for n in named if isinstance(n, str)}
                target = node.args[2]
                if None in named and isinstance(target, ast.Attribute) and isinstance(
                        target.value, ast.Name) and target.value.id in statuses:
                    entity = node.args[0].value  # type: ignore[attr-defined]
                    found.add(f"{entity}_{statuses[target.value.id][target.attr].value}")
    return found | {"decision_approve", "decision_reject", "invoice_rejected", "invoice_expired"}


def test_every_audit_action_has_words_in_both_languages() -> None:
    actions = _recorded_actions()
    assert {"request_created", "card_posted", "provider_answered", "watcher_recovered",
            "refused_self_approval", "request_completed", "request_approved",
            "approval_not_needed", "slack_error", "submission_resumed"} <= actions
    assert "request_failed" not in actions  # a failure is recorded as submission_failed
    for lang in CATALOGUES:
        assert sorted(a for a in actions if not known(f"trail.{a}", lang)) == [], lang


def test_an_action_without_words_keeps_its_code() -> None:
    event = {"action": "backup_<made>", "actor_id": "system", "actor_name": "system",
             "request_id": None, "details": "{}"}
    assert history.what_happened(event, "es") == "backup_&lt;made&gt;"
    assert history.who_did(event, "es") == "CFDI Bot"


@pytest.fixture
async def stage(tmp_path: Path) -> AsyncIterator[Stage]:
    opened = await Stage.open(tmp_path / "audit.db")
    yield opened
    await opened.close()


async def test_a_word_that_is_no_command_is_named_before_the_help(stage: Stage) -> None:
    answer = await stage.driver.command("U0ANA", "foo*<!here> FAC-1", FINANCE)
    shown = answer.json()
    first = shown["blocks"][0]["text"]["text"]
    assert first.startswith("«foo*&lt;!here&gt;» no es un comando de `/cfdi`.")
    assert t("help.title", "es") in first and t("help.status", "es") in first
    helped = await stage.driver.command("U0ANA", "ayuda", FINANCE)
    assert "no es un comando" not in str(helped.json())

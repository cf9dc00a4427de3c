"""The provider password and the Slack tokens never reach a log line or an error text."""

from __future__ import annotations

import html
import json
import logging
import urllib.parse
from pathlib import Path

import pytest

from bot.actors import Actor
from bot.config import ConfigError, load_settings
from bot.providers.contract import SendRequest
from bot.providers.solucion_factible.client import PacClient
from bot.runtime.logs import RedactingFormatter
from bot.sandbox.pac_server import SandboxPac
from bot.sat.cancellation import CancelItem
from bot.sat.refs import InvoiceRef
from storage import queries
from storage.domain import NewInvoice
from storage.store import AuditStore
from tests.helpers import FAST_RETRY, uuid_with

PASSWORD = "Zr9-unique-PAC-pass-Q7"
WRONG = "Wr0ng-unique-PAC-pass-K2"


async def test_no_password_in_logs_or_errors_with_every_logger_at_debug(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # root, so zeep, httpx, httpcore and ours all at DEBUG
    for name in ("zeep", "zeep.transports", "httpx", "httpcore", "bot"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    texts: list[str] = []
    with SandboxPac(usuario="acme", password=PASSWORD, resolve_after_s=0) as sandbox:
        for password in (PASSWORD, WRONG):
            client = await PacClient.create(sandbox.wsdl_url, sandbox.endpoint, usuario="acme",
                                            password=password, retry=FAST_RETRY)
            for code in ("000", "211", "9F0", "9F1", "9F2", "9F3", "503", "601"):
                result = await client.cancel([CancelItem(ref=InvoiceRef(uuid=uuid_with(code)),
                                                         reason="02")])
                texts += [str(result.error), repr(result.error),
                          result.model_dump_json(exclude={"error"})]
            sent = await client.send(SendRequest(refs=[InvoiceRef(uuid=uuid_with("000"))],
                                                 emails=["a@example.com"]))
            texts += [str(sent.error), sent.model_dump_json(exclude={"error"})]
            await client.aclose()
        assert PASSWORD in sandbox.last_request.decode() or WRONG in \
            sandbox.last_request.decode()  # it did travel, where it must
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP" in logged  # the loggers did speak at DEBUG
    for secret in (PASSWORD, WRONG):
        assert secret not in logged
        assert not any(secret in text for text in texts)


def test_the_log_formatter_replaces_every_secret() -> None:
    formatter = RedactingFormatter(["xoxb-1-2-abc", "xoxb-1-2-abcdef", "pw"], "%(message)s")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "token %s and %s", (
        "xoxb-1-2-abcdef", "pw"), None)
    assert formatter.format(record) == "token *** and ***"


PUNCTUATED = "p\"a\\s's<w&o>rd%/+ é-Q7"


def _escaped_forms(secret: str) -> list[str]:
    """The ways a password travels: XML/HTML entities, JSON and repr escapes, URL encoding."""
    entities = secret.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return [secret, entities, html.escape(secret), entities.replace("'", "&apos;"),
            json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
            json.dumps(entities)[1:-1], repr(secret)[1:-1], urllib.parse.quote(secret, safe=""),
            urllib.parse.quote_plus(secret)]


@pytest.mark.parametrize("secret", [PASSWORD, PUNCTUATED], ids=["plain", "punctuation"])
def test_the_log_formatter_replaces_every_escaped_form(secret: str) -> None:
    formatter = RedactingFormatter([secret], "%(message)s")
    for form in _escaped_forms(secret):
        record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "body <p>%s</p> end",
                                   (form,), None)
        assert formatter.format(record) == "body <p>***</p> end", form


@pytest.mark.parametrize("secret", [PASSWORD, PUNCTUATED], ids=["plain", "punctuation"])
def test_the_store_writes_no_form_of_a_secret(tmp_path: Path, secret: str) -> None:
    """Columns written from provider text, events (never deleted) and outbox payloads."""
    store = AuditStore.open(tmp_path / "audit.db", secrets=[secret])
    who = Actor("U0ANA", "Ana")
    with store.transaction() as tx:
        request_id = tx.create_request(kind="cancel", requester=who, reason="02",
                                       justification=f"la clave es {secret}",
                                       invoices=[NewInvoice(ref_key="A-1")],
                                       approvals_channel="C0APROBACIONES")
        invoice = queries.request_invoices(store, request_id)[0]
        for form in _escaped_forms(secret):
            tx.set_fields("invoice", invoice["id"], {"detalle": f"eco: {form}"})
            tx.enqueue(request_id, "outcomes", {"detalle": f"eco: {form}", form: 1})
            tx.record(who, "echo", request_id=request_id, details={"detalle": form})
        tx.transition("invoice", invoice["id"], "failed", who, fields={
            "code": f"x{secret}", "detalle": f"Usuario con password {secret} inválido"},
            details={"detalle": secret})
    assert store.verify().ok
    rows = [dict(r) for table in ("requests", "invoices", "events", "outbox")
            for r in store.db[table].rows]
    stored = json.dumps(rows, ensure_ascii=False)
    store.close()
    stored += (tmp_path / "audit.db").read_bytes().decode("utf-8", "replace")
    for form in _escaped_forms(secret):
        assert form not in stored, form
    assert "Usuario con password *** inválido" in stored


def test_a_bad_endpoint_never_echoes_the_credentials_in_its_url(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CFDI_ENDPOINT", "htps://acme:S3cr3t-pw@pac.example/ws")
    monkeypatch.setenv("CFDI_WSDL", "https://acme:S3cr3t-pw@pac.example/ws?wsdl")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    (problem,) = caught.value.problems
    assert problem.startswith("CFDI_ENDPOINT 'htps://***@pac.example/ws' is not valid")
    assert "S3cr3t-pw" not in str(caught.value) and "acme" not in str(caught.value)
    monkeypatch.setenv("CFDI_ENDPOINT", "https://acme:S3cr3t-pw@pac.example/ws")
    assert "S3cr3t-pw" in load_settings().secrets()  # and the log redactor hides it

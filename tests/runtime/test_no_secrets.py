"""After a run through every path (cancel, failure, reject, send, status, history, Home,
watch cycles, Slack and provider faults) with every logger at DEBUG: the provider password,
the bot token and the signing secret appear in no log line, nowhere in the SQLite files,
and in nothing sent to Slack."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from bot.sandbox.pac_rules import Answer
from bot.sandbox.stage import APPROVALS, FINANCE, Stage
from storage import queries
from tests.faults import injected
from tests.helpers import OK_UUID, card_of, click, texts, uuid_with

PASSWORD = "Pw-unique-9f2c7e41-provider"


async def test_no_secret_anywhere(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    stage = await Stage.open(tmp_path / "audit.db", resolve_after_s=0.3,
                             provider_password=PASSWORD, watch_backoff_s=[0.1])
    secrets = [PASSWORD, stage.settings.slack_bot_token.get_secret_value(),
               stage.settings.slack_signing_secret.get_secret_value()]
    try:
        with injected("secrets: every path at DEBUG", stage.runtime.store.db):
            ok = await card_of(stage, lines=[OK_UUID, uuid_with("A11")])
            await click(stage, "U0BETO", ok)
            await asyncio.sleep(0.4)
            await stage.runtime.watcher.cycle()
            stage.pac.state.transient_failures = 99
            for code in ("503", "601", "9F0", "9F1"):
                card = await card_of(stage, lines=[uuid_with(code, 7)])
                await click(stage, "U0BETO", card)
            stage.slack.fail("chat.update", "invalid_auth")  # a Slack error, audited, alerted
            rejected = await card_of(stage, lines=["FAC 9"])
            await click(stage, "U0BETO", rejected, "cfdi_reject")
            await stage.driver.submit_view("U0BETO", stage.driver.last_view(),
                                           {"reject_reason": "no"})
            await stage.driver.command("U0ANA", "enviar", FINANCE)
            await stage.settle()
            await stage.driver.submit_view("U0ANA", stage.driver.last_view(), {
                "invoices": OK_UUID, "recipients": "a@cliente.example"})
            await stage.driver.command("U0ANA", f"estado {OK_UUID}", FINANCE)
            await stage.driver.command("U0BETO", "historial <@U0ANA>", FINANCE)
            await stage.driver.open_home("U0BETO")
            await stage.settle()
            assert PASSWORD in stage.pac.last_request.decode()  # it travelled where it must
    finally:
        await stage.close()
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("audit.db*"))
    sent = json.dumps([c.params for c in stage.slack.calls], default=str) + json.dumps(
        [m.blocks for m in stage.slack.messages])
    assert len(stage.slack.calls) > 30 and stage.slack.thread(APPROVALS, ok.ts)
    for secret in secrets:
        assert secret not in logged
        assert secret.encode() not in stored
        assert secret not in sent


# A provider that answers an unknown code and repeats the password in `detalle`, and one
# that repeats it in the message of an operation error: raw and escaped, the password must
# appear in no column, event, outbox payload, Slack message or log line.
ECHOED = [PASSWORD, "p\"a\\s's<w&o>rd-7f3Q"]


def _forms(secret: str) -> set[str]:
    escaped = secret.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {secret, escaped, json.dumps(secret)[1:-1], json.dumps(escaped)[1:-1],
            escaped.replace('"', "&quot;").replace("'", "&apos;"),
            escaped.replace('"', "&quot;").replace("'", "&#39;")}


@pytest.mark.parametrize("password", ECHOED, ids=["plain", "punctuation"])
async def test_a_password_the_provider_echoes_is_stored_and_shown_nowhere(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, password: str) -> None:
    caplog.set_level(logging.DEBUG)
    stage = await Stage.open(tmp_path / "audit.db", provider_password=password,
                             watch_backoff_s=[0.05])
    unknown = Answer(201, "299", f"Usuario acme con password {password} no autorizado")
    waiting = Answer(211, "201", f"En espera (password={password})", reached_sat=False)
    stage.pac.state.answer = (  # type: ignore[method-assign]
        lambda key, code: waiting if code == "A11" else unknown)
    try:
        with injected("provider: echoes the password in detalle", stage.runtime.store.db):
            card = await card_of(stage, lines=[OK_UUID, uuid_with("A11", 2)])
            await click(stage, "U0BETO", card)
            reply = texts(stage.slack.thread(APPROVALS, card.ts)[-1])
            assert "299" in reply and "no autorizado" in reply and "***" in reply
            await asyncio.sleep(0.1)
            await stage.runtime.watcher.cycle()  # still pending: the columns are written again
            final, pending = queries.request_invoices(stage.runtime.store, 1)
            assert final["code"] == "sat:299" and "***" in final["detalle"]
            # asked three times: the submission, the confirming ask, the watcher
            assert pending["status"] == "pending" and pending["attempts"] == 3
            assert "***" in pending["detalle"]
    finally:
        await stage.close()
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("audit.db*"))
    sent = json.dumps([c.params for c in stage.slack.calls], default=str) + json.dumps(
        [m.blocks for m in stage.slack.messages]) + "\n".join(
        texts(m) for m in stage.slack.messages)
    for form in _forms(password):
        assert form not in logged, form
        assert form.encode() not in stored, form
        assert form not in sent, form

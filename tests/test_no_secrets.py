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

from bot.sandbox.stage import APPROVALS, FINANCE, Stage
from tests.faults import injected
from tests.helpers import OK_UUID, card_of, click, uuid_with

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

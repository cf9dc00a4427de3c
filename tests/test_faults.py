"""Faults in the provider, in Slack and in SQLite, each injected into the whole running
stage. Every test says what it injects and ends with nothing lost: every request in a
known state, the audit chain intact (tests/faults.py keeps the ledger)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.i18n import t
from bot.pac.status import OPERATION
from bot.provider import StatusClass
from bot.sandbox.stage import ADMIN, APPROVALS, FINANCE, Stage
from storage import queries
from tests.faults import injected
from tests.helpers import OK_UUID, ask, buttons, card_of, click, texts, uuid_with


@pytest.fixture
async def stage(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stage]:
    opened = await Stage.open(tmp_path / "audit.db", **getattr(request, "param", {}))
    yield opened
    await opened.close()


def status(stage: Stage, request_id: int = 1) -> str:
    return queries.get_request(stage.runtime.store, request_id)["status"]


async def failed_with(stage: Stage, code: str, what: str) -> str:
    """Ask, approve, and expect a failed request with a reply that says what happened."""
    with injected(what, stage.runtime.store.db):
        card = await card_of(stage, lines=[uuid_with(code)])
        await click(stage, "U0BETO", card)
        assert status(stage) == "failed"
        invoice = queries.request_invoices(stage.runtime.store, 1)[0]
        assert invoice["status"] == "failed" and invoice["code"]
        reply = stage.slack.thread(APPROVALS, card.ts)[-1]
        assert buttons(reply) == ["cfdi_resubmit"]
        return texts(reply)


@pytest.mark.parametrize(("code", "what", "words"), [
    ("9F0", "provider: a SOAP fault", "error SOAP"),
    ("9F1", "provider: HTTP 500 with an HTML page", "error HTTP"),
    ("9F2", "provider: truncated XML", "no se pudo leer"),
    ("9F3", "provider: an answer in the wrong namespace", "no se pudo leer"),
])
async def test_broken_provider_answers(stage: Stage, code: str, what: str, words: str) -> None:
    assert words in await failed_with(stage, code, what)


@pytest.mark.parametrize("stage", [{"cfdi_timeout_s": 0.3, "slow_s": 2.0}], indirect=True)
async def test_no_answer_until_the_timeout(stage: Stage) -> None:
    assert "no respondió a tiempo" in await failed_with(stage, "900", "provider: no answer")


async def test_connection_refused(stage: Stage) -> None:
    stage.pac.stop()
    with injected("provider: connection refused", stage.runtime.store.db):
        card = await card_of(stage)
        await click(stage, "U0BETO", card)
        assert status(stage) == "failed"
        assert "No se pudo conectar" in texts(stage.slack.thread(APPROVALS, card.ts)[-1])


ERROR_CODES = sorted(code for code, klass in OPERATION.items() if klass is not StatusClass.SUCCESS)


@pytest.mark.parametrize("code", ERROR_CODES)
async def test_every_documented_error_code(stage: Stage, code: int) -> None:
    stage.pac.state.transient_failures = 99  # 500-503 keep failing past the retries
    reply = await failed_with(stage, str(code), f"provider: operation status {code}")
    klass = OPERATION[code].value
    assert t(f"reply.failed.{klass}", "es") in reply
    alerted = bool(stage.slack.channel_messages(ADMIN))
    assert alerted == (klass in ("credentials", "configuration"))


@pytest.mark.parametrize(("error", "status_code"), [
    ("internal_error", 500), ("invalid_auth", 200), ("channel_not_found", 200)])
async def test_slack_refuses_the_card_then_recovers(stage: Stage, error: str,
                                                    status_code: int) -> None:
    with injected(f"slack: chat.postMessage answers {error}", stage.runtime.store.db):
        # A 500 is retried twice by the Slack client; the others are final at once.
        stage.slack.fail("chat.postMessage", error, status=status_code,
                         times=3 if status_code == 500 else 1)
        answer = await ask(stage, "U0ANA", [OK_UUID])
        assert answer.status_code == 200
        await stage.settle()
        assert status(stage) == "awaiting_approval"  # recorded, though Slack refused the card
        assert stage.slack.channel_messages(APPROVALS) == []
        assert "slack_error" in [e["action"] for e in queries.events(stage.runtime.store)]
        await stage.runtime.watcher.cycle()  # Slack is back: the card goes out
        (card,) = stage.slack.channel_messages(APPROVALS)
        await click(stage, "U0BETO", card)
        assert status(stage) == "completed"
        if error != "internal_error":
            assert error in texts(stage.slack.channel_messages(ADMIN)[0])


async def test_not_in_channel_falls_back_to_a_direct_message(stage: Stage) -> None:
    with injected("slack: chat.postEphemeral answers not_in_channel", stage.runtime.store.db):
        stage.slack.fail("chat.postEphemeral", "not_in_channel")
        await card_of(stage)
        assert "Solicitud #1 creada" in texts(stage.slack.dms("U0ANA")[-1])


async def test_an_expired_trigger_is_explained(stage: Stage) -> None:
    with injected("slack: views.open answers expired_trigger_id", stage.runtime.store.db):
        stage.slack.fail("views.open", "expired_trigger_id")
        await stage.driver.command("U0ANA", "cancelar", FINANCE)
        await stage.settle()
        assert stage.slack.views == {}
        assert "No pude abrir el formulario" in stage.slack.ephemerals[-1]["text"]


def _locked(path: Path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    return other


@pytest.mark.parametrize("fault", ["locked", "read-only", "full"])
async def test_sqlite_refuses_the_write(stage: Stage, fault: str) -> None:
    """The request cannot be recorded: the requester is told, the provider is not called."""
    conn = stage.runtime.store.db.conn
    other: Any = None
    with injected(f"sqlite: the file is {fault}"):
        if fault == "locked":
            other = _locked(stage.settings.audit_db)
        elif fault == "read-only":
            conn.execute("PRAGMA query_only = ON")
        else:  # a size limit at what the file holds now, then every free byte used up
            conn.execute("CREATE TABLE IF NOT EXISTS filler (b BLOB)")
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages}")
            with pytest.raises(sqlite3.OperationalError, match="full"):
                while True:
                    conn.execute("INSERT INTO filler VALUES (zeroblob(512))")
        # 150 invoices: a write that needs new pages, whatever room the last pages have left.
        lines = [uuid_with("000", n) for n in range(1, 151)] if fault == "full" else [OK_UUID]
        answer = await ask(stage, "U0ANA", lines, justification="x" * 900)
        assert answer.status_code == 200
        await stage.settle()
        # Written before the form closes: the requester reads it on the form itself.
        assert "No se pudo registrar la solicitud" in answer.json()["errors"]["invoices"]
        assert stage.slack.channel_messages(APPROVALS) == []
        assert stage.pac.calls["cancelar"] == 0
        if other is not None:
            other.execute("ROLLBACK")
            other.close()
        conn.execute("PRAGMA query_only = OFF")
        conn.execute("PRAGMA max_page_count = 1073741823")
        conn.execute("DROP TABLE IF EXISTS filler")
        assert stage.runtime.store.db["requests"].count == 0
    with injected(f"sqlite: works again after being {fault}", stage.runtime.store.db):
        card = await card_of(stage)
        await click(stage, "U0BETO", card)
        assert status(stage) == "completed"

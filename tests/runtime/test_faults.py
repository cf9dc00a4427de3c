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
from bot.providers.contract import StatusClass
from bot.providers.solucion_factible.codes import OPERATION
from bot.sandbox.stage import ADMIN, APPROVALS, FINANCE, Stage
from storage import queries
from tests.faults import fill_disk, free_disk, injected
from tests.helpers import (
    OK_UUID,
    ask,
    buttons,
    card_of,
    card_of_list,
    click,
    texts,
    uuid_with,
)


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
        else:
            fill_disk(conn)
        # 80 invoices (the most the field holds): a write that needs new pages, whatever room
        # the last pages have left.
        lines = [uuid_with("000", n) for n in range(1, 81)] if fault == "full" else [OK_UUID]
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
        free_disk(conn)
        assert stage.runtime.store.db["requests"].count == 0
    with injected(f"sqlite: works again after being {fault}", stage.runtime.store.db):
        card = await card_of(stage)
        await click(stage, "U0BETO", card)
        assert status(stage) == "completed"


def card_is_final(stage: Stage, card: Any) -> bool:
    """The card shows the request's final status, with no button left to press."""
    shown = stage.slack.message(APPROVALS, card.ts)
    return buttons(shown) == [] and t("request.completed", "es") in texts(shown)


async def test_slack_refuses_the_card_update_then_recovers(stage: Stage) -> None:
    with injected("slack: chat.update answers 500 until Slack is back", stage.runtime.store.db):
        stage.slack.fail("chat.update", "internal_error", status=500, times=99)
        card = await card_of(stage)
        await click(stage, "U0BETO", card)
        assert status(stage) == "completed"
        assert buttons(stage.slack.message(APPROVALS, card.ts)) != []  # Slack refused it
        stage.slack.fail("chat.update", "internal_error", times=0)      # Slack is back
        await stage.runtime.watcher.cycle()
        assert card_is_final(stage, card)
        updates = len(stage.slack.calls_of("chat.update"))
        await stage.runtime.watcher.cycle()  # up to date: nothing more owed
        assert len(stage.slack.calls_of("chat.update")) == updates


@pytest.mark.parametrize("method", ["files.getUploadURLExternal",
                                    "files.completeUploadExternal"])
async def test_a_failed_acuse_upload_is_tried_again_once(stage: Stage, method: str) -> None:
    with injected(f"slack: {method} answers 500", stage.runtime.store.db):
        stage.slack.fail(method, "internal_error", status=500, times=99)
        card = await card_of(stage)
        await click(stage, "U0BETO", card)
        assert status(stage) == "completed"

        def shared() -> list[dict[str, Any]]:
            return [u for u in stage.slack.uploads.values() if u.get("thread_ts") == card.ts]

        assert shared() == []
        stage.slack.fail(method, "internal_error", times=0)  # Slack is back
        for _ in range(3):  # the next cycles: uploaded once, never again
            await stage.runtime.watcher.cycle()
        (upload,) = shared()
        assert upload["filename"] == "acuse-solicitud-1.xml" and b"<Acuse" in upload["content"]
        events = queries.events(stage.runtime.store, 1)
        assert [e["action"] for e in events].count("acuse_uploaded") == 1


# Listed, not summarised (LARGE_REQUEST_AT): the split itself is what is tested here.
@pytest.mark.parametrize("stage", [{"max_invoices": 1000, "large_request_at": 1000}],
                         indirect=True)
async def test_a_reply_with_a_thousand_invoices_is_split_not_cut(stage: Stage) -> None:
    with injected("slack: a reply longer than 50 blocks", stage.runtime.store.db):
        refs = [uuid_with("201", n) for n in range(1, 1001)]  # the SAT's error: long lines
        card = await card_of_list(stage, refs)  # more than the typed field holds
        await click(stage, "U0BETO", card)
        assert status(stage) == "completed"
        thread = stage.slack.thread(APPROVALS, card.ts)
        assert len(thread) > 2  # approved, then the outcomes in more than one message
        shown = "\n".join(texts(m) for m in thread)
        assert [ref for ref in refs if f"`{ref}`" not in shown] == []
        for message in thread:
            assert len(message.blocks) <= 50
            assert "SANDBOX" in texts_of_block(message.blocks[-1]), message.blocks[-1]
        assert not [e for e in queries.unposted(stage.runtime.store)]


def texts_of_block(block: dict[str, Any]) -> str:
    return " ".join(e.get("text", "") for e in block.get("elements") or [])

"""Checkpoints while the bot runs, on the stand-ins: signed when an hour has passed with new
events (a clock the test moves), at each stop, posted to the operators' channel where Slack
keeps them, appended to the checkpoints file; read back from the channel page by page; and
the key refused at start and in `check` when others can read it or it is not the file's."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.actors import Actor
from bot.cli import auditdb
from bot.evidence import keys
from bot.evidence.publishing import EVENT_TYPE, read_channel, read_file
from bot.evidence.verifying import verify
from bot.sandbox.stage import ADMIN, Stage
from storage import evidence
from storage.store import AuditStore
from tests.cli.test_check import checked, settings_for, stand_in
from tests.helpers import card_of, clean_env
from tests.runtime.test_startup import one_sentence

ORIGIN = "cfdi-bot/simulated-provider"


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "audit-signing.key"
    keys.generate(path, ORIGIN, "en")
    return path


@pytest.fixture
async def stage(tmp_path: Path, key: Path) -> AsyncIterator[Stage]:
    opened = await Stage.open(tmp_path / "audit.db", resolve_after_s=0.5, language="en",
                              audit_signing_key=key)
    yield opened
    if opened.runtime.runner is not None:
        await opened.close()


def posted(stage: Stage) -> list[str]:
    """The notes of the checkpoint messages in the operators' channel, as Slack keeps them."""
    return [m.metadata["event_payload"]["note"] for m in stage.slack.channel_messages(ADMIN)
            if m.metadata and m.metadata.get("event_type") == EVENT_TYPE]


async def test_hourly_with_new_events_then_at_stop(stage: Stage, tmp_path: Path) -> None:
    running = stage.runtime.evidence
    assert running is not None
    store = stage.runtime.store
    await card_of(stage)
    await running.periodic()           # the first: no checkpoint yet
    await running.periodic()           # not an hour later: none
    assert len(posted(stage)) == 1
    first_size = evidence.recorded(store.db)[0].size
    start = store.clock()
    store.clock = lambda: start + timedelta(hours=1)
    await running.periodic()           # an hour later, but nothing written since: none
    assert len(posted(stage)) == 1
    store.record(Actor("U0ANA", "ana.lopez"), "note")
    await running.periodic()           # an hour, and a new event
    store.record(Actor("U0ANA", "ana.lopez"), "note")
    await stage.close()                # and one at the stop
    notes = posted(stage)
    assert len(notes) == 3
    assert [p.note for p in read_file(tmp_path / "audit.checkpoints")] == notes
    assert f"\n{first_size}\n" in notes[0] and "previous none" in notes[0]
    reopened = AuditStore.open(tmp_path / "audit.db")
    try:
        recorded = evidence.recorded(reopened.db)
        assert [r.note for r in recorded] == notes
        assert all(f"previous {before.signature}\n" in after.note
                   for before, after in itertools.pairwise(recorded))
        found = verify(evidence.chain(reopened.db), read_file(tmp_path / "audit.checkpoints"),
                       keys.load(stage.settings.audit_signing_key, ORIGIN, "en").public,
                       "the file", "en")
    finally:
        reopened.close()
    assert found.ok, found.sentence


async def test_a_copy_slack_refused_is_posted_at_the_next_run(stage: Stage) -> None:
    running = stage.runtime.evidence
    assert running is not None
    await card_of(stage)
    stage.slack.fail("chat.postMessage", "not_in_channel")
    await running.periodic()
    assert posted(stage) == []
    assert evidence.owed(stage.runtime.store, "slack_ts")      # owed, not lost
    assert not evidence.owed(stage.runtime.store, "filed_at")  # the file has it
    await running.periodic()
    assert len(posted(stage)) == 1
    assert not evidence.owed(stage.runtime.store, "slack_ts")


async def test_from_slack_reads_every_page_and_names_a_deleted_message(stage: Stage,
                                                                       tmp_path: Path) -> None:
    running = stage.runtime.evidence
    assert running is not None
    for _ in range(3):
        stage.runtime.store.record(Actor("U0ANA", "ana.lopez"), "note")
        await running.signer.sign(force=True)
        await running.publisher.publish()
    stage.runtime.services.io.client.retry_handlers = []
    pages_before = len(stage.slack.calls_of("conversations.history"))
    found = await read_channel(stage.runtime.services.io.client, ADMIN, page=1)
    assert [p.note for p in found] == posted(stage)
    assert len(stage.slack.calls_of("conversations.history")) - pages_before == 3
    token = stage.settings.slack_bot_token
    assert token is not None
    public = running.signer.key.public.text()
    env = clean_env(AUDIT_DB=str(tmp_path / "audit.db"), SLACK_BOT_TOKEN=token.get_secret_value(),
                    SLACK_API_URL=stage.slack.api_url, ADMIN_CHANNEL=ADMIN)
    command = [sys.executable, "-m", "bot", "audit", "verify", "--from-slack",
               "--public-key", public]
    done = await asyncio.to_thread(subprocess.run, command, env=env, cwd=tmp_path,
                                   capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"matches 3 checkpoint(s) of Slack {ADMIN}" in done.stdout
    middle = [m for m in stage.slack.channel_messages(ADMIN) if m.metadata][1]
    stage.slack.messages.remove(middle)   # someone deleted the second one from the channel
    done = await asyncio.to_thread(subprocess.run, command, env=env, cwd=tmp_path,
                                   capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"BROKEN: A checkpoint is missing from Slack {ADMIN} before Slack message " in \
        done.stdout


def test_run_refuses_a_key_others_can_read(tmp_path: Path, key: Path) -> None:
    key.chmod(0o640)
    done = subprocess.run([sys.executable, "-m", "bot", "run"], env=run_env(tmp_path, key),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert one_sentence(done) == (
        f"AUDIT_SIGNING_KEY {key} can be read or written by others (mode 0640): whoever reads "
        "it can sign checkpoints; make it readable by the bot's user alone with "
        f"`chmod 600 {key}`.")


def test_run_refuses_a_key_that_is_not_the_file_s(tmp_path: Path, key: Path) -> None:
    other = tmp_path / "other.key"
    public = keys.generate(other, ORIGIN, "en")
    store = AuditStore.open(tmp_path / "audit.db")
    evidence.record_key(store, public.text())
    store.close()
    done = subprocess.run([sys.executable, "-m", "bot", "run"], env=run_env(tmp_path, key),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    found = keys.load(key, ORIGIN, "en").public.text()
    assert one_sentence(done) == (
        f"AUDIT_SIGNING_KEY {key} is not the key this audit file's checkpoints are signed with "
        f"(recorded: {public.text()}; this key: {found}): set AUDIT_SIGNING_KEY to that key's "
        "file.")


def run_env(tmp_path: Path, key: Path) -> dict[str, str]:
    """Everything `run` needs; Slack is never reached (the key is refused before)."""
    return clean_env(SLACK_BOT_TOKEN="xoxb-1-refused-before-slack",
                     SLACK_SIGNING_SECRET="secret", APPROVALS_CHANNEL="C0APROBACIONES",
                     APPROVERS="U0BETO", SLACK_API_URL="http://127.0.0.1:9/api/",
                     AUDIT_DB=str(tmp_path / "audit.db"), AUDIT_SIGNING_KEY=str(key))


async def test_check_says_off_ok_or_what_to_do(tmp_path: Path, key: Path) -> None:
    with stand_in() as slack:
        settings = settings_for(slack, tmp_path)
        auditdb.open_for(settings).close()
        code, lines = await checked(settings)
        assert code == 0
        assert "· AUDIT_SIGNING_KEY is not set: the audit log is not checkpointed. To start: " \
            "`python -m bot audit keygen /etc/cfdi-bot/audit-signing.key`, then set " \
            "AUDIT_SIGNING_KEY to that path." in lines
        with_key = settings_for(slack, tmp_path, audit_signing_key=key)
        code, lines = await checked(with_key)
        public = keys.load(key, ORIGIN, "en").public.text()
        assert code == 0, lines
        assert f"✓ Signing key {key}: readable by its owner alone, {public}; checkpoints go to " \
            f"{tmp_path / 'audit.checkpoints'} and to {ADMIN}." in lines
        key.chmod(0o644)
        code, lines = await checked(with_key)
        assert code == 1
        assert any(line.startswith(f"✗ AUDIT_SIGNING_KEY {key} can be read or written by "
                                   "others (mode 0644)") for line in lines)
        assert evidence.recorded_key_at(tmp_path / "audit.db") is None  # check wrote nothing


async def test_check_says_when_the_file_s_checkpoints_stopped(tmp_path: Path, key: Path) -> None:
    with stand_in() as slack:
        settings = settings_for(slack, tmp_path)
        store = auditdb.open_for(settings)
        public = keys.load(key, ORIGIN, "en").public.text()
        evidence.record_key(store, public)
        store.close()
        code, lines = await checked(settings)
    assert code == 1
    assert f"✗ AUDIT_SIGNING_KEY is not set, but this audit file's checkpoints were signed with " \
        f"{public}: no checkpoint is signed until AUDIT_SIGNING_KEY names that key's file " \
        "again." in lines

"""Running it for real: /healthz, `audit backup` while the bot writes, JSON log lines with
secrets scrubbed, LOG_LEVEL, and TIMEZONE for the times people read and the export dates."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlite_utils

from bot.actors import Actor
from bot.runtime.logs import setup_logging
from bot.sandbox.stage import Stage
from bot.slack.mrkdwn import local
from storage import chain
from storage.store import AuditStore
from tests.helpers import card_of, clean_env, click


def health_url(stage: Stage) -> str:
    return stage.driver.events_url.replace("/slack/events", "/healthz")


async def test_healthz_says_what_is_wrong(tmp_path: Path) -> None:
    stage = await Stage.open(tmp_path / "audit.db", watch_interval_s=0.1)
    try:
        async with httpx.AsyncClient() as http:
            fresh = await http.get(health_url(stage))
            assert fresh.status_code == 200
            assert fresh.json() == {"status": "ok", "database": "writable", "provider": "ready",
                                    "watcher_last_cycle_s": None, "watcher": "ok"}
            stage.runtime.start_watching()
            while stage.runtime.watcher.last_cycle_at is None:
                await asyncio.sleep(0.05)
            cycled = (await http.get(health_url(stage))).json()
            assert cycled["status"] == "ok" and cycled["watcher_last_cycle_s"] < 5

            # Another program holds the write lock: the probe gives up quickly and says so.
            holder = sqlite3.connect(tmp_path / "audit.db", isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            locked = await http.get(health_url(stage))
            holder.execute("ROLLBACK")
            holder.close()
            assert locked.status_code == 503
            assert locked.json()["database"] == "database is locked"
            assert (await http.get(health_url(stage))).status_code == 200

            stage.runtime.watcher.last_cycle_at -= 3600
            stage.runtime.watcher.settings = stage.settings.model_copy(
                update={"watch_interval_s": 1.0})
            late = await http.get(health_url(stage))
            assert late.status_code == 503 and late.json()["watcher"] == "late"
    finally:
        await stage.close()


async def test_a_backup_while_the_bot_writes_is_consistent(tmp_path: Path) -> None:
    """The copy is one moment of the log, taken while requests keep being written."""
    stage = await Stage.open(tmp_path / "audit.db")
    copies = tmp_path / "copies"
    copies.mkdir()
    stop = threading.Event()

    def backups() -> list[subprocess.CompletedProcess[str]]:
        done = []
        while not stop.is_set() or not done:
            done.append(subprocess.run(
                [sys.executable, "-m", "bot", "audit", "backup", str(copies)],
                env=clean_env(AUDIT_DB=str(tmp_path / "audit.db")), cwd=tmp_path,
                capture_output=True, text=True, timeout=60))
        return done

    taking = asyncio.get_running_loop().run_in_executor(None, backups)
    try:
        for n in range(4):
            await click(stage, "U0BETO", await card_of(stage, lines=[f"FAC {n + 1}"]))
            await stage.settle()
    finally:
        stop.set()
        results = await taking
        await stage.close()
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert all(r.stdout.startswith("Backup written to ") and "the chain is intact" in r.stdout
               for r in results)
    files = sorted(copies.glob("audit-*.db"))
    assert files and not list(copies.glob(".*partial"))
    for copy in files:
        assert not Path(f"{copy}-wal").exists()  # one self-contained file
        assert chain.verify(sqlite_utils.Database(copy)).ok


def test_backup_refusals_are_sentences(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    store = AuditStore.open(path)
    store.record(Actor("U0ANA", "Ana"), "note")
    store.close()
    env = clean_env(AUDIT_DB=str(path))

    def backup(target: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", "audit", "backup", str(target)],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)

    missing = backup(tmp_path / "nowhere" / "copy.db")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip() == (
        f"The backup to {tmp_path / 'nowhere' / 'copy.db'} could not be written (the folder "
        f"{tmp_path / 'nowhere'} does not exist): choose a folder that exists and that you "
        "may write to.")
    same = backup(path)
    assert same.returncode == 2
    assert same.stderr.strip() == f"The backup must go to another file than AUDIT_DB itself " \
                                  f"({path})."
    db = sqlite_utils.Database(path)
    db.execute("DROP TRIGGER events_no_update")
    db.execute("UPDATE events SET actor_name = 'Mallory'")
    db.conn.close()
    broken = backup(tmp_path / "copy.db")
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert broken.stderr.startswith("The copy does not verify (event 1: ")
    assert not (tmp_path / "copy.db").exists()


SECRET = 'Pw"\\<secret>&9f2c'


@pytest.fixture
def root_logger() -> Iterator[None]:
    """setup_logging replaces the root's handlers: give pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_json_log_lines_are_one_object_each_and_scrubbed(root_logger: None) -> None:
    out = io.StringIO()
    handler = setup_logging([SECRET], "DEBUG", "json")
    handler.setStream(out)  # type: ignore[attr-defined]
    log = logging.getLogger("bot.test")
    log.debug("connecting with %s", SECRET)
    try:
        raise ValueError(f"refused: {SECRET}\nsecond line")
    except ValueError:
        log.exception("it failed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "DEBUG" and first["logger"] == "bot.test"
    assert first["message"] == "connecting with ***"
    assert second["message"] == "it failed" and "refused: ***" in second["exception"]
    assert "Traceback" in second["exception"]
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    for form in (SECRET, json.dumps(SECRET)[1:-1], "9f2c"):
        assert form not in out.getvalue()


def test_log_level_and_format_come_from_the_settings(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=clean_env(
        LOG_LEVEL="warning", LOG_FORMAT="json", SLACK_BOT_TOKEN="xoxb-…"), capture_output=True,
        text=True, timeout=60)
    assert done.returncode == 2  # the placeholder: logging was set up before the refusal
    bad = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=clean_env(
        LOG_LEVEL="loud", LOG_FORMAT="xml", TIMEZONE="Mars/Olympus"), capture_output=True,
        text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "LOG_LEVEL 'LOUD' is not valid" in bad.stderr
    assert "LOG_FORMAT 'xml' is not valid" in bad.stderr
    assert "TIMEZONE 'Mars/Olympus' is not valid (not a known time zone)" in bad.stderr


def test_times_people_read_are_in_the_time_zone() -> None:
    from zoneinfo import ZoneInfo

    assert local("2025-11-01T05:30:00.000000Z") == "2025-10-31 23:30 CST"
    assert local("2025-11-01T05:30:00.000000Z", zone=ZoneInfo("Europe/Madrid")) == \
        "2025-11-01 06:30 CET"


@pytest.fixture
def month_end(tmp_path: Path) -> Path:
    """Events at the edge of October in Mexico City (UTC-6): 05:59 and 06:00 UTC on Nov 1."""
    path = tmp_path / "audit.db"
    moments = iter([datetime(2025, 11, 1, 5, 59, tzinfo=UTC), datetime(2025, 11, 1, 6, 0,
                                                                       tzinfo=UTC)])
    store = AuditStore.open(path, clock=lambda: next(moments))
    store.record(Actor("U0ANA", "Ana"), "last_of_october")
    store.record(Actor("U0ANA", "Ana"), "first_of_november")
    store.close()
    return path


@pytest.mark.parametrize(("zone", "october"), [
    ("America/Mexico_City", ["last_of_october"]),
    ("UTC", []),
])
def test_export_dates_are_days_in_the_time_zone(month_end: Path, zone: str,
                                                october: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "audit", "export", "--format", "jsonl",
         "--since", "2025-10-01", "--until", "2025-10-31"],
        env=clean_env(AUDIT_DB=str(month_end), TIMEZONE=zone), cwd=month_end.parent,
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["action"] for line in done.stdout.splitlines()] == october

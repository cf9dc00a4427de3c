"""A rehearsal never pollutes the real log: an audit file records at its first start whether
it belongs to the sandbox or to a real provider (and which address), and `run` refuses to
mix them, with one sentence."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlite_utils

from bot.actors import Actor
from bot.cli import auditdb
from bot.config import Settings
from storage import meta, schema
from storage.store import AuditStore
from tests.helpers import clean_env

REAL = "https://solucionfactible.com/ERPWebServices/soap/CFDI33"
TESTING = "https://testing.solucionfactible.com/ERPWebServices/soap/CFDI33"


def settings(endpoint: str = "sandbox") -> Settings:
    return Settings(_env_file=None, cfdi_endpoint=endpoint, language="en")  # type: ignore[call-arg]


def owner_of(path: Path) -> meta.Owner | None:
    return meta.read_owner(sqlite_utils.Database(path))


def test_the_first_start_records_the_owner(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    auditdb.open_for(settings(f"https://user:pw@{REAL.removeprefix('https://')}/"),
                     path).close()
    # The address without its credentials, nor a trailing slash.
    assert owner_of(path) == meta.Owner(meta.PROVIDER, f"https://***@{REAL[8:]}")
    assert b"pw@" not in path.read_bytes()
    auditdb.open_for(settings(f"https://user:pw@{REAL[8:]}"), path).close()  # the same: fine


@pytest.mark.parametrize(("first", "then", "sentence"), [
    ("sandbox", REAL, "{path} holds sandbox rehearsals: the real provider ({then}) needs a file "
                      "of its own; set AUDIT_DB to a new path, for example data/audit-prod.db."),
    (REAL, "sandbox", "{path} holds requests sent to the real provider at {first}: a sandbox "
                      "rehearsal needs a file of its own; set AUDIT_DB to another path, for "
                      "example data/sandbox.db."),
    (TESTING, REAL, "{path} holds requests sent to the provider at {first}, not to {then}: "
                    "give each provider address its own file (AUDIT_DB), so that no pending "
                    "invoice is asked of the wrong one."),
])
def test_mixing_is_refused_with_one_sentence(tmp_path: Path, first: str, then: str,
                                             sentence: str) -> None:
    path = tmp_path / "audit.db"
    auditdb.open_for(settings(first), path).close()
    with pytest.raises(auditdb.Unusable) as refused:
        auditdb.open_for(settings(then), path)
    assert refused.value.sentence == sentence.format(path=path, first=first, then=then)


def test_a_file_from_before_the_record_takes_the_current_owner_and_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "audit.db"
    old = sqlite_utils.Database(path)
    schema.migrate(old, target=8)          # as the bot left it before the record existed
    old.conn.close()
    store = AuditStore.open(path)
    store.record(Actor("U0ANA", "Ana"), "note")
    store.close()
    caplog.set_level(logging.INFO)
    auditdb.open_for(settings(REAL), path).close()
    assert owner_of(path) == meta.Owner(meta.PROVIDER, REAL)
    assert f"the audit database {path} did not say which provider it belongs to; " \
           f"recorded now: {REAL}" in caplog.text


def test_the_record_cannot_be_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    auditdb.open_for(settings(), path).close()
    db = sqlite_utils.Database(path)
    with pytest.raises(sqlite3.IntegrityError, match="written once"):
        db.execute("UPDATE meta SET value = 'provider' WHERE key = 'mode'")
    with pytest.raises(sqlite3.IntegrityError, match="written once"):
        db.execute("DELETE FROM meta")


def test_run_refuses_a_rehearsal_file_with_a_real_provider(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    auditdb.open_for(settings(), path).close()
    env = clean_env(SLACK_BOT_TOKEN="xoxb-1-2-3", SLACK_SIGNING_SECRET="s",
                    APPROVALS_CHANNEL="C0APROBACIONES", APPROVERS="U0BETO",
                    AUDIT_DB=str(path), CFDI_ENDPOINT=REAL, CFDI_USUARIO="u", CFDI_PASSWORD="p")
    done = subprocess.run([sys.executable, "-m", "bot", "run"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (f"{path} holds sandbox rehearsals: the real provider ({REAL})"
                                   " needs a file of its own; set AUDIT_DB to a new path, for "
                                   "example data/audit-prod.db.")

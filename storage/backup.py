"""A consistent copy of the audit file while the bot runs, through SQLite's online backup API
(copying the `.db` file alone is unsafe in WAL mode: recent commits live in the `-wal` file),
checked before it replaces anything: the copy's chain must verify.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from storage.chain import Verdict
from storage.chain import verify as verify_chain

BUSY_TIMEOUT_S = 10.0


def target_path(source: Path, target: Path, now: datetime | None = None) -> Path:
    """`target` itself, or inside an existing folder a file named after the source and the
    UTC time (`audit-20251031T235900Z.db`), so that a scheduled backup keeps each copy."""
    if not target.is_dir():
        return target
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return target / f"{source.stem}-{stamp}{source.suffix or '.db'}"


def backup(source: Path, target: Path) -> Verdict:
    """Copy `source` into `target` (written beside it first, renamed over it only once the
    copy's chain verifies). Returns the copy's verdict; a copy that does not verify is deleted.
    Raises sqlite3.Error or OSError when either file cannot be used."""
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        verdict = _copy(source, partial)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if not verdict.ok:
        partial.unlink(missing_ok=True)
        return verdict
    with contextlib.suppress(OSError):
        os.chmod(partial, 0o600)  # the log names people and invoices: not for every reader
    os.replace(partial, target)
    return verdict


def _copy(source: Path, partial: Path) -> Verdict:
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True,
                          timeout=BUSY_TIMEOUT_S)
    try:
        dst = sqlite3.connect(partial)
        try:
            # One step: a single read transaction, so the copy is one moment of the log;
            # in WAL mode the bot keeps writing meanwhile.
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            return verify_chain(sqlite_utils.Database(dst))
        finally:
            dst.close()
    finally:
        src.close()

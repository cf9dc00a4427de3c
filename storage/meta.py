"""What an audit file belongs to (the sandbox, or a real provider at an address), written once
in the `meta` table; and a write probe that never waits long on another writer's lock."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from storage import schema
from storage.chain import Verdict
from storage.chain import verify as verify_chain

SANDBOX, PROVIDER = "sandbox", "provider"
_MODE, _ENDPOINT = "mode", "endpoint"


@dataclass(frozen=True)
class Owner:
    """What an audit file belongs to: the provider endpoint and user it was made with."""

    mode: str                 # SANDBOX or PROVIDER
    endpoint: str | None      # the provider's address (PROVIDER only)


def read_owner(db: sqlite_utils.Database) -> Owner | None:
    """None when the file does not say (created before the record existed, or never started)."""
    if "meta" not in db.table_names():
        return None
    values = {row[0]: row[1] for row in db.execute(
        "SELECT key, value FROM meta WHERE key IN (?, ?)", [_MODE, _ENDPOINT])}
    if _MODE not in values:
        return None
    return Owner(values[_MODE], values.get(_ENDPOINT))


def record_owner(db: sqlite_utils.Database, owner: Owner, now: str) -> Owner:
    """Write the record unless one is there (another process may have written it first);
    returns the record in force."""
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = [(_MODE, owner.mode)] + ([(_ENDPOINT, owner.endpoint)] if owner.endpoint else [])
        if read_owner(db) is None:
            conn.executemany("INSERT INTO meta (key, value, set_at) VALUES (?, ?, ?)",
                             [(key, value, now) for key, value in rows])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    found = read_owner(db)
    assert found is not None
    return found


def probe_write(path: str | Path, timeout_s: float) -> str | None:
    """None when a write to the file would succeed now; otherwise SQLite's reason (locked by
    another writer for longer than `timeout_s`, read-only, missing). Nothing is written: the
    probe is rolled back. Its own connection, so it never queues behind the bot's."""
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=rw", uri=True,
                               timeout=timeout_s, isolation_level=None)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        conn.execute("BEGIN IMMEDIATE")  # waits up to timeout_s for another writer
        try:
            # Rewriting the header's user_version with its own value is a write that any
            # schema version has and that a read-only file refuses.
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            conn.execute(f"PRAGMA user_version = {current}")
        finally:
            conn.execute("ROLLBACK")
        return None
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.close()


@dataclass(frozen=True)
class Survey:
    """An existing audit file as `python -m bot check` sees it, without changing it."""
    version: int
    owner: Owner | None
    verdict: Verdict
    write_problem: str | None


def survey(path: Path, timeout_s: float) -> Survey:
    """Read what the file says (schema version, owner, chain) and probe a write; nothing is
    migrated or written. Raises sqlite3.Error when the file is not a database."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout_s)
    try:
        db = sqlite_utils.Database(conn)
        return Survey(schema.version(db), read_owner(db), verify_chain(db),
                      probe_write(path, timeout_s))
    finally:
        conn.close()

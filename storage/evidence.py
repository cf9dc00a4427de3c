"""The SQL of the audit log's signed checkpoints (bot/evidence says what they are): the public
key the file recorded, the checkpoint events, the copies still owed, and the events read in
chain order for a verification.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from storage.chain import FIELDS, GENESIS
from storage.store import AuditStore, Tx

ACTION = "audit_checkpoint"
KEY = "signing_key"   # meta: the public key of the file's checkpoints, written once


@dataclass(frozen=True)
class Recorded:
    """A checkpoint as the log recorded it: its event and its signed note."""

    event_id: int
    at: str                 # when it was recorded (UTC, as the store writes times)
    size: int
    signature: str
    note: str


def recorded_key(db: sqlite_utils.Database) -> str | None:
    if "meta" not in db.table_names():
        return None
    row = db.execute("SELECT value FROM meta WHERE key = ?", [KEY]).fetchone()
    return str(row[0]) if row else None


def recorded_key_at(path: Path) -> str | None:
    """The recorded public key of the file at `path`, read without writing anything (None
    when the file is not there). Raises sqlite3.Error when it is not a database."""
    if not path.exists():
        return None
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return recorded_key(sqlite_utils.Database(conn))
    finally:
        conn.close()


def record_key(store: AuditStore, public: str) -> str:
    """Write the public key unless one is recorded; returns the one in force."""
    with store.transaction() as tx:
        tx.conn.execute("INSERT OR IGNORE INTO meta (key, value, set_at) VALUES (?, ?, ?)",
                        (KEY, public, store.now()))
    found = recorded_key(store.db)
    assert found is not None
    return found


def head(tx: Tx) -> tuple[int, str]:
    """The number of events and the newest one's hash (ids run 1, 2, 3… without gaps)."""
    row = tx.conn.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def _recorded(row: tuple[int, str, str]) -> Recorded:
    details = json.loads(row[2])
    return Recorded(int(row[0]), str(row[1]), int(details["size"]), str(details["signature"]),
                    str(details["note"]))


def last(conn: sqlite3.Connection) -> Recorded | None:
    """The newest checkpoint recorded (index events_by_action)."""
    row = conn.execute("SELECT id, at, details FROM events WHERE action = ? ORDER BY id DESC "
                       "LIMIT 1", [ACTION]).fetchone()
    return _recorded(row) if row else None


def recorded(db: sqlite_utils.Database) -> list[Recorded]:
    """Every checkpoint the log recorded, oldest first (index events_by_action)."""
    return [_recorded(row) for row in db.execute(
        "SELECT id, at, details FROM events WHERE action = ? ORDER BY id", [ACTION])]


def owe_copies(tx: Tx, event_id: int) -> None:
    tx.conn.execute("INSERT INTO checkpoint_copies (event_id) VALUES (?)", (event_id,))


def owed(store: AuditStore, column: str) -> list[Recorded]:
    """Checkpoints not yet in the file (`filed_at`) or not yet in Slack (`slack_ts`)
    (index checkpoint_copies_owed)."""
    assert column in ("filed_at", "slack_ts")
    return [_recorded(row) for row in store.db.execute(
        f"SELECT e.id, e.at, e.details FROM checkpoint_copies c JOIN events e ON e.id = "
        f"c.event_id WHERE (c.filed_at IS NULL OR c.slack_ts IS NULL) AND c.{column} IS NULL "
        f"ORDER BY c.event_id")]


async def filed(store: AuditStore, event_ids: list[int]) -> None:
    async with store.writing() as tx:
        tx.conn.executemany("UPDATE checkpoint_copies SET filed_at = ? WHERE event_id = ?",
                            [(store.now(), i) for i in event_ids])


async def posted(store: AuditStore, event_id: int, ts: str) -> None:
    async with store.writing() as tx:
        tx.conn.execute("UPDATE checkpoint_copies SET slack_ts = ?, posted_at = ? "
                        "WHERE event_id = ?", (ts, store.now(), event_id))


def chain(db: sqlite_utils.Database) -> Iterator[dict[str, object]]:
    """Every event with its stored links, oldest first, as the chain hashes them."""
    cursor = db.execute(f"SELECT {', '.join(FIELDS)}, prev_hash, hash FROM events ORDER BY id")
    columns = [c[0] for c in cursor.description]
    for values in cursor:
        yield dict(zip(columns, values, strict=True))

"""Small helpers shared by the store, its transactions and the queries: connections,
timestamps as stored, placeholders, rows as dicts."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.domain import Row


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width UTC text, so that comparing strings compares times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


PAGE = 100  # rows fetched at a time: one fetchall of thousands is one C call that keeps the
#             interpreter (the event loop, when read in a worker thread) until it returns


def rows_of(cursor: sqlite3.Cursor) -> list[Row]:
    columns = [c[0] for c in cursor.description]
    rows: list[Row] = []
    while page := cursor.fetchmany(PAGE):
        rows += [dict(zip(columns, values, strict=True)) for values in page]
    return rows


def connect(path: str | Path, timeout_s: float = 5.0) -> sqlite3.Connection:
    """A connection to the audit file as each of the store's: autocommit (the store says
    BEGIN), usable from any thread, foreign keys on, synchronous NORMAL (durable at
    checkpoints; WAL keeps it safe)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=timeout_s,
                           check_same_thread=False)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn

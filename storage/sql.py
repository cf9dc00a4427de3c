"""Small helpers shared by the store, its transactions and the queries: timestamps as
stored, placeholders, rows as dicts."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from storage.domain import Row


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width UTC text, so that comparing strings compares times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def rows_of(cursor: sqlite3.Cursor) -> list[Row]:
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]

"""Export of the audit events, in time (chain) order, as CSV or JSON lines."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TextIO

from storage.sql import iso
from storage.store import AuditStore

COLUMNS = ("id", "at", "actor_id", "actor_name", "action", "request_id", "invoice_ref",
           "details", "prev_hash", "hash")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Keep a spreadsheet from executing a cell: prefix formula starters with a quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def select_events(store: AuditStore, *, since: datetime | None = None,
                  before: datetime | None = None, requester: str | None = None
                  ) -> Iterator[dict[str, Any]]:
    """Events at or after `since` and before `before` (aware times), oldest first."""
    where, params = [], []
    if since:
        where.append("e.at >= ?")
        params.append(iso(since))
    if before:
        where.append("e.at < ?")
        params.append(iso(before))
    if requester:
        where.append("r.requester_id = ?")
        params.append(requester)
    sql = (f"SELECT {', '.join('e.' + c for c in COLUMNS)} FROM events e "
           "LEFT JOIN requests r ON r.id = e.request_id"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY e.id")
    yield from store.db.query(sql, params)


def write(rows: Iterator[dict[str, Any]], out: TextIO, fmt: str) -> int:
    count = 0
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([neutralise(row[c]) for c in COLUMNS])
            count += 1
    else:
        for row in rows:
            out.write(json.dumps({**row, "details": json.loads(row["details"])},
                                 ensure_ascii=False) + "\n")
            count += 1
    return count

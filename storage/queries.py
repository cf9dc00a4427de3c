"""The reads the bot needs; each names the index (storage/schema.py) that serves it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlite_utils

from storage.store import Row, iso

OPEN_OR_DONE = ("requested", "pending", "canceled", "already_canceled")


def invoice_trail(db: sqlite_utils.Database, *, uuid: str | None = None,
                  serie: str | None = None, folio: int | None = None) -> dict[str, list[Row]]:
    """Every request that named the invoice, and the events about it or its requests.

    invoices_by_uuid / invoices_by_serie_folio find the invoice rows; events_by_request
    reads each request's events in order.
    """
    if uuid:
        invoices = list(db.query("SELECT * FROM invoices WHERE uuid = ? ORDER BY id", [uuid]))
    else:
        invoices = list(db.query("SELECT * FROM invoices WHERE serie = ? AND folio = ? "
                                 "ORDER BY id", [serie, folio]))
    events: list[Row] = []
    for invoice in invoices:
        events += db.query(
            "SELECT * FROM events WHERE request_id = ? AND (invoice_ref IS NULL OR "
            "invoice_ref = ?) ORDER BY id", [invoice["request_id"], invoice["ref_key"]])
    events.sort(key=lambda e: e["id"])
    return {"invoices": invoices, "events": events}


def recent_requests(db: sqlite_utils.Database, requester_id: str, limit: int = 10) -> list[Row]:
    """requests_by_requester."""
    return list(db.query("SELECT * FROM requests WHERE requester_id = ? "
                         "ORDER BY created_at DESC LIMIT ?", [requester_id, limit]))


def awaiting_approval(db: sqlite_utils.Database, *, older_than: datetime | None = None
                      ) -> list[Row]:
    """requests_by_status; with `older_than`, only those created before it (to expire)."""
    cutoff = iso(older_than) if older_than else "9999"
    return list(db.query("SELECT * FROM requests WHERE status = 'awaiting_approval' AND "
                         "created_at <= ? ORDER BY created_at", [cutoff]))


def due_pending(db: sqlite_utils.Database, now: datetime, limit: int = 500) -> list[Row]:
    """invoices_due: pending invoices whose next check has come, oldest due first."""
    return list(db.query("SELECT * FROM invoices WHERE status = 'pending' AND "
                         "next_check_at <= ? ORDER BY next_check_at LIMIT ?", [iso(now), limit]))


def request_invoices(db: sqlite_utils.Database, request_id: int) -> list[Row]:
    """invoices_by_request, in the order the requester typed them."""
    return list(db.query("SELECT * FROM invoices WHERE request_id = ? ORDER BY position",
                         [request_id]))


def active_elsewhere(db: sqlite_utils.Database, ref_keys: Sequence[str]) -> list[Row]:
    """invoices_by_ref: which of these are already requested, pending or cancelled."""
    if not ref_keys:
        return []
    marks = ",".join("?" * len(ref_keys))
    states = ",".join("?" * len(OPEN_OR_DONE))
    return list(db.query(f"SELECT * FROM invoices WHERE ref_key IN ({marks}) AND status IN "
                         f"({states})", [*ref_keys, *OPEN_OR_DONE]))


def counts(db: sqlite_utils.Database) -> dict[str, dict[str, int]]:
    """requests_by_status / invoices_due (status first) make these index-only scans."""
    result: dict[str, dict[str, int]] = {}
    for table in ("requests", "invoices"):
        result[table] = {row["status"]: row["n"] for row in db.query(
            f"SELECT status, count(*) AS n FROM {table} GROUP BY status")}
    return result


def unposted(db: sqlite_utils.Database) -> list[Row]:
    """outbox_unposted: replies owed, oldest first."""
    return list(db.query("SELECT * FROM outbox WHERE posted_ts IS NULL ORDER BY id"))


def pending_since_before(db: sqlite_utils.Database, cutoff: datetime) -> list[Row]:
    """Pending invoices older than `cutoff` not yet reported to the operators."""
    return list(db.query("SELECT * FROM invoices WHERE status = 'pending' AND alerted_at IS "
                         "NULL AND pending_since <= ? ORDER BY pending_since", [iso(cutoff)]))


def get_request(db: sqlite_utils.Database, request_id: int) -> Row | None:
    rows = list(db.query("SELECT * FROM requests WHERE id = ?", [request_id]))
    return rows[0] if rows else None


def events(db: sqlite_utils.Database, request_id: int | None = None) -> list[dict[str, Any]]:
    if request_id is None:
        return list(db.query("SELECT * FROM events ORDER BY id"))
    return list(db.query("SELECT * FROM events WHERE request_id = ? ORDER BY id", [request_id]))


def awaiting_decision_by(db: sqlite_utils.Database, approver_id: str, limit: int = 10
                         ) -> list[Row]:
    """requests_by_status: awaiting approval, not asked by this approver, not yet decided
    by them; oldest first."""
    return list(db.query(
        "SELECT * FROM requests r WHERE status = 'awaiting_approval' AND requester_id != ? "
        "AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.request_id = r.id AND "
        "a.user_id = ?) ORDER BY created_at LIMIT ?", [approver_id, approver_id, limit]))


def pending_invoices(db: sqlite_utils.Database, limit: int = 15) -> tuple[list[Row], int]:
    """invoices_due: the longest-pending invoices first, and how many are pending in all."""
    rows = list(db.query("SELECT * FROM invoices WHERE status = 'pending' "
                         "ORDER BY pending_since LIMIT ?", [limit]))
    total = db.execute("SELECT count(*) FROM invoices WHERE status = 'pending'").fetchone()[0]
    return rows, int(total)


def invoice_counts(db: sqlite_utils.Database, request_ids: Sequence[int]) -> dict[int, int]:
    if not request_ids:
        return {}
    marks = ",".join("?" * len(request_ids))
    return {row["request_id"]: row["n"] for row in db.query(
        f"SELECT request_id, count(*) AS n FROM invoices WHERE request_id IN ({marks}) "
        "GROUP BY request_id", list(request_ids))}


def open_requests_of(db: sqlite_utils.Database, requester_id: str, limit: int = 15
                     ) -> list[Row]:
    """requests_by_requester: those not yet in a final state, newest first."""
    return list(db.query(
        "SELECT * FROM requests WHERE requester_id = ? AND status NOT IN "
        "('completed', 'rejected', 'expired') ORDER BY created_at DESC LIMIT ?",
        [requester_id, limit]))


def cards_missing(db: sqlite_utils.Database) -> list[Row]:
    """Open requests that belong in an approvals channel but whose card Slack refused."""
    return list(db.query(
        "SELECT id FROM requests WHERE thread_ts IS NULL AND approvals_channel IS NOT NULL "
        "AND status NOT IN ('completed', 'rejected', 'expired') ORDER BY id"))

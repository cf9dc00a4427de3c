"""The reads the bot needs; each names the index (storage/schema.py) that serves it.

They take the store, never a connection: nothing above storage/ touches SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from storage.domain import Row
from storage.sql import iso, marks
from storage.states import (
    BELIEVED_CANCELLED,
    BELIEVED_NOT_CANCELLED,
    BELIEVED_PENDING,
    CLOSED_REQUEST,
    TO_RESUME,
)
from storage.states import InvoiceStatus as IS
from storage.states import RequestStatus as R
from storage.store import AuditStore


def invoice_trail(store: AuditStore, *, uuid: str | None = None,
                  serie: str | None = None, folio: int | None = None) -> dict[str, list[Row]]:
    """Every request that named the invoice, and the events about it or its requests.

    invoices_by_uuid / invoices_by_serie_folio find the invoice rows; events_by_request
    reads each request's events in order.
    """
    if uuid:
        invoices = list(store.db.query("SELECT * FROM invoices WHERE uuid = ? ORDER BY id", [uuid]))
    else:
        invoices = list(store.db.query("SELECT * FROM invoices WHERE serie = ? AND folio = ? "
                                 "ORDER BY id", [serie, folio]))
    events: list[Row] = []
    for invoice in invoices:
        events += store.db.query(
            "SELECT * FROM events WHERE request_id = ? AND (invoice_ref IS NULL OR "
            "invoice_ref = ?) ORDER BY id", [invoice["request_id"], invoice["ref_key"]])
    events.sort(key=lambda e: e["id"])
    return {"invoices": invoices, "events": events}


def recent_requests(store: AuditStore, requester_id: str, limit: int = 10) -> list[Row]:
    """requests_by_requester."""
    return list(store.db.query("SELECT * FROM requests WHERE requester_id = ? "
                         "ORDER BY created_at DESC LIMIT ?", [requester_id, limit]))


def awaiting_approval(store: AuditStore, *, older_than: datetime | None = None
                      ) -> list[Row]:
    """requests_by_status; with `older_than`, only those created before it (to expire)."""
    cutoff = iso(older_than) if older_than else "9999"
    return list(store.db.query("SELECT * FROM requests WHERE status = ? AND "
                         "created_at <= ? ORDER BY created_at", [R.AWAITING_APPROVAL, cutoff]))


def due_pending(store: AuditStore, now: datetime, limit: int = 500) -> list[Row]:
    """invoices_due: pending invoices whose next check has come, oldest due first."""
    return list(store.db.query("SELECT * FROM invoices WHERE status = ? AND "
                         "next_check_at <= ? ORDER BY next_check_at LIMIT ?",
                         [IS.PENDING, iso(now), limit]))


def due_sat(store: AuditStore, now: datetime, limit: int = 500) -> list[Row]:
    """invoices_due: cancellations the provider reported whose SAT confirmation is due."""
    return list(store.db.query("SELECT * FROM invoices WHERE status = ? AND "
                               "next_check_at <= ? ORDER BY next_check_at LIMIT ?",
                               [IS.AWAITING_SAT, iso(now), limit]))


def to_reconcile(store: AuditStore, recent: datetime, limit: int) -> list[Row]:
    """invoices_by_sat_check: the cancellations' invoices the daily reconciliation asks the
    SAT about (storage.states: believed pending, of an open request, or settled since
    `recent`), those asked least recently first, at most `limit`."""
    pending, settled = list(BELIEVED_PENDING), [*BELIEVED_CANCELLED, *BELIEVED_NOT_CANCELLED]
    return list(store.db.query(
        f"SELECT i.* FROM invoices i JOIN requests r ON r.id = i.request_id "
        f"WHERE r.kind = 'cancel' AND (i.status IN ({marks(pending)}) OR "
        f"r.status NOT IN ({marks(CLOSED_REQUEST)}) OR "
        f"(i.status IN ({marks(settled)}) AND i.updated_at >= ?)) "
        f"ORDER BY i.sat_checked_at IS NOT NULL, i.sat_checked_at, i.id LIMIT ?",
        [*pending, *sorted(CLOSED_REQUEST), *settled, iso(recent), limit]))


def request_invoices(store: AuditStore, request_id: int) -> list[Row]:
    """invoices_by_request, in the order the requester typed them."""
    return list(store.db.query("SELECT * FROM invoices WHERE request_id = ? ORDER BY position",
                         [request_id]))


async def request_invoices_off_loop(store: AuditStore, request_id: int) -> list[Row]:
    """request_invoices, read in a worker thread (AuditStore.read_off_loop): a large
    request's 5,000 rows read on the loop held it 50 ms and more, even a page at a time."""
    return await store.read_off_loop(
        "SELECT * FROM invoices WHERE request_id = ? ORDER BY position", [request_id])


def active_elsewhere(store: AuditStore, ref_keys: Sequence[str]) -> list[Row]:
    """invoices_live: which of these are in a live cancellation, or cancelled (a send, a
    rejected or an expired request blocks nothing)."""
    if not ref_keys:
        return []
    return list(store.db.query(f"SELECT * FROM invoices WHERE live = 1 AND ref_key IN "
                               f"({marks(ref_keys)})", list(ref_keys)))


def counts(store: AuditStore) -> dict[str, dict[str, int]]:
    """requests_by_status / invoices_due (status first) make these index-only scans."""
    result: dict[str, dict[str, int]] = {}
    for table in ("requests", "invoices"):
        result[table] = {row["status"]: row["n"] for row in store.db.query(
            f"SELECT status, count(*) AS n FROM {table} GROUP BY status")}
    return result


UNPOSTED = "SELECT * FROM outbox WHERE posted_ts IS NULL ORDER BY id"


def unposted(store: AuditStore) -> list[Row]:
    """outbox_unposted: replies owed, oldest first."""
    return list(store.db.query(UNPOSTED))


async def unposted_off_loop(store: AuditStore) -> list[Row]:
    """unposted, read in a worker thread: after a large request's confirmations thousands
    of replies are owed (one read held the loop 60 ms)."""
    return await store.read_off_loop(UNPOSTED)


def pending_since_before(store: AuditStore, cutoff: datetime) -> list[Row]:
    """Pending invoices older than `cutoff` not yet reported to the operators."""
    return list(store.db.query("SELECT * FROM invoices WHERE status = ? AND alerted_at IS "
                         "NULL AND pending_since <= ? ORDER BY pending_since",
                         [IS.PENDING, iso(cutoff)]))


def get_request(store: AuditStore, request_id: int) -> Row | None:
    rows = list(store.db.query("SELECT * FROM requests WHERE id = ?", [request_id]))
    return rows[0] if rows else None


def delivered_before(store: AuditStore, client_key: str) -> bool:
    """A request was already written for this delivery (a form's view id)."""
    return store.db.execute("SELECT 1 FROM requests WHERE client_key = ?",
                            [client_key]).fetchone() is not None


def events(store: AuditStore, request_id: int | None = None, *, since_id: int = 0
           ) -> list[dict[str, Any]]:
    if request_id is None:
        return list(store.db.query("SELECT * FROM events WHERE id >= ? ORDER BY id",
                                   [since_id]))
    return list(store.db.query("SELECT * FROM events WHERE request_id = ? ORDER BY id",
                               [request_id]))


def awaiting_decision_by(store: AuditStore, approver_id: str, limit: int = 10
                         ) -> list[Row]:
    """requests_by_status: awaiting approval, not asked by this approver, not yet decided
    by them; oldest first."""
    return list(store.db.query(
        "SELECT * FROM requests r WHERE status = ? AND requester_id != ? "
        "AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.request_id = r.id AND "
        "a.user_id = ?) ORDER BY created_at LIMIT ?",
        [R.AWAITING_APPROVAL, approver_id, approver_id, limit]))


def pending_invoices(store: AuditStore, limit: int = 15) -> tuple[list[Row], int]:
    """Cancellations not settled yet, longest waiting first, and how many there are: those
    the receiver has to answer (pending, since pending_since) and those the provider reported
    cancelled that the SAT does not show yet (awaiting_sat, since the row last changed)."""
    waiting = [IS.PENDING, IS.AWAITING_SAT]
    rows = list(store.db.query(
        f"SELECT * FROM invoices WHERE status IN ({marks(waiting)}) "
        "ORDER BY coalesce(pending_since, updated_at) LIMIT ?", [*waiting, limit]))
    total = store.db.execute(f"SELECT count(*) FROM invoices WHERE status IN "
                             f"({marks(waiting)})", waiting).fetchone()[0]
    return rows, int(total)


def invoice_counts(store: AuditStore, request_ids: Sequence[int]) -> dict[int, int]:
    if not request_ids:
        return {}
    return {row["request_id"]: row["n"] for row in store.db.query(
        f"SELECT request_id, count(*) AS n FROM invoices WHERE request_id IN "
        f"({marks(request_ids)}) "
        "GROUP BY request_id", list(request_ids))}


def open_requests_of(store: AuditStore, requester_id: str, limit: int = 15
                     ) -> list[Row]:
    """requests_by_requester: those not yet in a final state, newest first."""
    return list(store.db.query(
        f"SELECT * FROM requests WHERE requester_id = ? AND status NOT IN "
        f"({marks(CLOSED_REQUEST)}) ORDER BY created_at DESC LIMIT ?",
        [requester_id, *sorted(CLOSED_REQUEST), limit]))


def cards_missing(store: AuditStore) -> list[Row]:
    """Open requests that belong in an approvals channel but whose card Slack refused."""
    return list(store.db.query(
        f"SELECT id FROM requests WHERE thread_ts IS NULL AND approvals_channel IS NOT NULL "
        f"AND status NOT IN ({marks(CLOSED_REQUEST)}) ORDER BY id", sorted(CLOSED_REQUEST)))


def cards_owed(store: AuditStore) -> list[Row]:
    """requests_card_owed: posted cards that changed since Slack last accepted them."""
    return list(store.db.query(
        "SELECT id FROM requests WHERE card_shown < card_version AND thread_ts IS NOT NULL "
        "ORDER BY id"))


UPLOADS_OWED = ("SELECT u.*, coalesce(u.content, i.acuse) AS acuse FROM uploads u "
                "JOIN invoices i ON i.id = u.invoice_id "
                "WHERE u.file_id IS NULL AND u.request_id = ? ORDER BY u.id")


def uploads_owed(store: AuditStore, request_id: int) -> list[Row]:
    """uploads_owed: the request's uploads not yet shared (acuses and CSV lists), each with
    its document as `acuse` (a list's own content, or the acuse of its invoice)."""
    return list(store.db.query(UPLOADS_OWED, [request_id]))


async def uploads_owed_off_loop(store: AuditStore, request_id: int) -> list[Row]:
    """uploads_owed, read in a worker thread (a large request's list is megabytes)."""
    return await store.read_off_loop(UPLOADS_OWED, [request_id])


def requests_with_uploads_owed(store: AuditStore) -> list[int]:
    """uploads_owed."""
    return [row["request_id"] for row in store.db.query(
        "SELECT DISTINCT request_id FROM uploads WHERE file_id IS NULL ORDER BY request_id")]


def decisions(store: AuditStore, request_id: int) -> list[Row]:
    """The approvals and rejection of a request, in the order they were given."""
    return list(store.db.query("SELECT * FROM approvals WHERE request_id = ? ORDER BY id",
                               [request_id]))


def requests_to_resume(store: AuditStore) -> list[Row]:
    """requests_by_status: approved or submitting when the process stopped."""
    return list(store.db.query(
        f"SELECT id, kind, status, requester_id FROM requests WHERE status IN "
        f"({marks(TO_RESUME)}) ORDER BY id",
        list(TO_RESUME)))


def requests_by_id(store: AuditStore, request_ids: Sequence[int]) -> dict[int, Row]:
    if not request_ids:
        return {}
    return {row["id"]: row for row in store.db.query(
        f"SELECT * FROM requests WHERE id IN ({marks(request_ids)})", list(request_ids))}


def has_upload(store: AuditStore, request_id: int, filename: str) -> bool:
    """Whether the request's thread owes or has this file (by name: UNIQUE per request)."""
    return bool(list(store.db.query(
        "SELECT 1 FROM uploads WHERE request_id = ? AND filename = ?", [request_id, filename])))

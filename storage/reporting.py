"""The reads of the controller's monthly report (bot/reporting), and the record of the
reports sent to REPORT_CHANNEL (one per month, across restarts).

A month is the cancellations requested in it: `start` and `end` are its bounds in UTC
(the caller turns TIMEZONE's month into them). Each read names the index that serves it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import sqlite_utils

from storage.domain import Row
from storage.sql import iso
from storage.store import AuditStore
from storage.tx import Tx

# The moments the report measures, read from the events of the month's requests in one
# pass (events_by_request): the approval, the provider's first answer about each invoice,
# and the transition that made it `canceled` (the SAT's confirmation).
_MONTH = """
WITH r AS (
    SELECT id, status, requester_id, requester_name, reason, replacement_uuid, created_at
    FROM requests WHERE kind = 'cancel' AND created_at >= ? AND created_at < ?
), moments AS (
    SELECT e.request_id, e.invoice_ref,
        min(CASE WHEN e.action IN ('request_approved', 'approval_not_needed')
                 THEN e.at END) AS approved_at,
        min(CASE WHEN e.action = 'provider_answered' THEN e.at END) AS answered_at,
        min(CASE WHEN e.invoice_ref IS NOT NULL AND e.action != 'invoice_facts'
                  AND json_extract(e.details, '$.to') = 'canceled' THEN e.at END)
            AS confirmed_at
    FROM events e WHERE e.request_id IN (SELECT id FROM r)
    GROUP BY e.request_id, e.invoice_ref
), approvers AS (
    SELECT request_id, group_concat(user_name, ', ') AS names FROM approvals
    WHERE decision = 'approve' AND request_id IN (SELECT id FROM r) GROUP BY request_id
)
SELECT i.id, i.request_id, i.position, i.ref_key, i.uuid, i.serie, i.folio, i.status,
       i.code, i.detalle, i.estatus_uuid, i.facts, i.pending_since, i.updated_at,
       r.requester_id, r.requester_name, r.reason, r.replacement_uuid, r.created_at,
       r.status AS request_status, a.names AS approvers, m.approved_at,
       mi.answered_at, mi.confirmed_at
FROM r JOIN invoices i ON i.request_id = r.id
LEFT JOIN approvers a ON a.request_id = r.id
LEFT JOIN moments m ON m.request_id = r.id AND m.invoice_ref IS NULL
LEFT JOIN moments mi ON mi.request_id = r.id AND mi.invoice_ref = i.ref_key
ORDER BY r.id, i.position
"""


def month_requests(store: AuditStore, start: datetime, end: datetime) -> list[Row]:
    """requests_by_created: the cancellations requested in [start, end), oldest first."""
    return list(store.db.query(
        "SELECT id, status, requester_id, requester_name, reason, created_at, updated_at "
        "FROM requests WHERE kind = 'cancel' AND created_at >= ? AND created_at < ? "
        "ORDER BY id", [iso(start), iso(end)]))


def month_invoices(store: AuditStore, start: datetime, end: datetime) -> list[Row]:
    """requests_by_created, invoices_by_request, events_by_request, approvals_by_request:
    every invoice of the month's cancellations with its request, its approvers and the
    moments measured (approved_at, answered_at, confirmed_at: NULL when not yet)."""
    return list(store.db.query(_MONTH, [iso(start), iso(end)]))


def plain_aggregate(store: AuditStore, start: datetime, end: datetime) -> list[Row]:
    """The baseline of benchmarks/report.py: the month's invoices counted by status and
    reason with the sum of their stated totals, in one SQL statement."""
    return list(store.db.query(
        "SELECT i.status, r.reason, count(*) AS n, "
        "sum(CAST(json_extract(i.facts, '$.invoice.total') AS REAL)) AS total "
        "FROM requests r JOIN invoices i ON i.request_id = r.id "
        "WHERE r.kind = 'cancel' AND r.created_at >= ? AND r.created_at < ? "
        "GROUP BY i.status, r.reason", [iso(start), iso(end)]))


# -- the reports sent without asking ---------------------------------------------------

def sent_report(store: AuditStore, month: str) -> Row | None:
    """The record of the month's scheduled report (monthly_reports' key), if any."""
    rows = list(store.db.query("SELECT * FROM monthly_reports WHERE month = ?", [month]))
    return rows[0] if rows else None


def report_attempted(tx: Tx, month: str, channel: str) -> None:
    """Written before posting: a report attempted and never marked posted (a crash, Slack
    down) is posted again at the next start; one posted is never posted again."""
    tx.conn.execute(
        "INSERT INTO monthly_reports (month, channel, attempted_at) VALUES (?, ?, ?) "
        "ON CONFLICT (month) DO UPDATE SET channel = excluded.channel, "
        "attempted_at = excluded.attempted_at WHERE posted_ts IS NULL",
        (month, channel, tx.store.now()))


def report_posted(tx: Tx, month: str, ts: str) -> None:
    tx.conn.execute("UPDATE monthly_reports SET posted_ts = ?, posted_at = ? WHERE month = ?",
                    (ts, tx.store.now(), month))


def path_of(store: AuditStore) -> str:
    """The file the store has open (for a reader in another thread or process)."""
    return str(next(row[2] for row in store.db.conn.execute("PRAGMA database_list")
                    if row[1] == "main"))


@contextmanager
def snapshot(store: AuditStore) -> Iterator[AuditStore]:
    """The same file on a read-only connection of its own: in WAL mode it never waits for
    the bot's writes, nor sees one half done."""
    conn = sqlite3.connect(f"file:{path_of(store)}?mode=ro", uri=True,
                           check_same_thread=False)
    try:
        conn.execute("BEGIN")  # one consistent view for every read of the report
        yield AuditStore(sqlite_utils.Database(conn), clock=store.clock)
    finally:
        conn.close()

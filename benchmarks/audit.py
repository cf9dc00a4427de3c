"""Audit store figures: transitions per second, and two queries on a large file.

Each figure sits beside a baseline measured in the same run on the same machine:
- transitions: our checked, hashed, compare-and-set move vs a bare UPDATE + INSERT
  in the same kind of transaction (the cost of the safety);
- queries at 100,000 requests / 1,000,000 events: vs a primary-key lookup (the floor)
  and vs the same query with its index unused (what the index saves).
"""

from __future__ import annotations

import hashlib
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.actors import SYSTEM, Actor
from storage.chain import GENESIS, canonical_json
from storage.domain import NewInvoice
from storage.sql import iso
from storage.store import AuditStore

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "100000"))
EVENTS_PER_REQUEST = 10
TRANSITIONS = int(os.environ.get("BENCH_TRANSITIONS", "2000"))
COMMAND = "make bench  (python -m benchmarks audit; BENCH_REQUESTS, BENCH_TRANSITIONS to scale)"


def _median_s(run: Callable[[], object], repeat: int = 50) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_transitions(folder: Path) -> None:
    store = AuditStore.open(folder / "transitions.db")
    with store.transaction() as tx:
        ids = [tx.create_request(kind="cancel", requester=Actor("U1", "u"), reason="02",
                                 justification="x", invoices=[NewInvoice(f"A-{n}")])
               for n in range(TRANSITIONS)]
    start = time.perf_counter()
    for request_id in ids:
        store.transition("request", request_id, "approved", SYSTEM, expect="awaiting_approval")
    ours = TRANSITIONS / (time.perf_counter() - start)

    conn = store.db.conn
    conn.execute("CREATE TABLE bare_events (id INTEGER PRIMARY KEY, at TEXT, details TEXT)")
    start = time.perf_counter()
    for request_id in ids:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE requests SET status = 'submitting' WHERE id = ?", (request_id,))
        conn.execute("INSERT INTO bare_events (at, details) VALUES (?, ?)",
                     (iso(datetime.now(UTC)), "{}"))
        conn.execute("COMMIT")
    bare = TRANSITIONS / (time.perf_counter() - start)
    store.close()
    print(f"  transitions/s: {ours:,.0f} checked+hashed, one transaction each "
          f"(baseline bare UPDATE+INSERT: {bare:,.0f}/s; ours = {ours / bare:.2f}x of it)")


def _build_large(path: Path) -> tuple[str, datetime]:
    """100,000 requests, 2 invoices each, 1,000,000 chained events, straight into SQLite."""
    store = AuditStore.open(path)
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    base = datetime(2026, 1, 1, tzinfo=UTC)
    conn.execute("BEGIN")
    prev, event_id = GENESIS, 0
    for r in range(1, REQUESTS + 1):
        at = iso(base + timedelta(seconds=r * 30))
        conn.execute("INSERT INTO requests (id, kind, requester_id, requester_name, reason, "
                     "status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
                     (r, "cancel", f"U{r % 500:04d}", "x", "02", "submitted", at, at))
        for pos in range(2):
            uuid = f"{r:08X}-0000-4000-8000-{pos:012X}"
            pending = (r + pos) % 20 == 0
            conn.execute("INSERT INTO invoices (request_id, position, ref_key, uuid, status, "
                         "next_check_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                         (r, pos, uuid, uuid, "pending" if pending else "canceled",
                          iso(base + timedelta(seconds=r * 30 + 3600)) if pending else None,
                          at))
        for n in range(EVENTS_PER_REQUEST):
            event_id += 1
            details = canonical_json({"n": n})
            body = {"id": event_id, "at": at, "actor_id": "system", "actor_name": "system",
                    "action": "bench", "request_id": r, "invoice_ref": None,
                    "details": {"n": n}, "prev_hash": prev}
            digest = hashlib.sha256(canonical_json(body).encode()).hexdigest()
            conn.execute("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?)",
                         (event_id, at, "system", "system", "bench", r, None, details, prev,
                          digest))
            prev = digest
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    middle = REQUESTS // 2
    return f"{middle:08X}-0000-4000-8000-{0:012X}", base + timedelta(seconds=middle * 30 + 3600)


def bench_queries(folder: Path) -> None:
    from storage import queries

    path = folder / "large.db"
    start = time.perf_counter()
    uuid, now = _build_large(path)
    built = time.perf_counter() - start
    store = AuditStore.open(path)
    db = store.db
    floor = _median_s(lambda: list(db.query("SELECT * FROM events WHERE id = ?", [500_000])))
    trail = _median_s(lambda: queries.invoice_trail(store, uuid=uuid))
    due = _median_s(lambda: queries.due_pending(store, now, 500))
    trail_scan = _median_s(lambda: list(db.query(
        "SELECT * FROM invoices NOT INDEXED WHERE uuid = ?", [uuid])), repeat=5)
    due_scan = _median_s(lambda: list(db.query(
        "SELECT * FROM invoices NOT INDEXED WHERE status = 'pending' AND next_check_at <= ? "
        "ORDER BY next_check_at LIMIT 500", [iso(now)])), repeat=5)
    events = db.execute("SELECT count(*) FROM events").fetchone()[0]
    store.close()
    print(f"  data: {REQUESTS:,} requests, {2 * REQUESTS:,} invoices, {events:,} events "
          f"(built in {built:.0f} s)")
    print(f"  baseline primary-key lookup: {floor * 1e6:,.0f} µs")
    print(f"  invoice trail by UUID: {trail * 1e6:,.0f} µs = {trail / floor:.1f}x the floor; "
          f"its invoice lookup without the index: {trail_scan * 1e3:,.1f} ms "
          f"({trail_scan / trail:,.0f}x slower)")
    print(f"  due pending (500 oldest): {due * 1e3:,.2f} ms = {due / floor:.1f}x the floor; "
          f"without the index: {due_scan * 1e3:,.1f} ms ({due_scan / due:,.1f}x slower)")


def main() -> None:
    print(f"== audit store  [{platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}]")
    print(f"   command: {COMMAND}")
    with tempfile.TemporaryDirectory() as folder:
        bench_transitions(Path(folder))
        bench_queries(Path(folder))

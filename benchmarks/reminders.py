"""What the reminders' sweep costs the event loop when nothing is due: the business-calendar
arithmetic over every request awaiting approval (bot/watching/reminders.py, `_due` and the
escalation check), beside a baseline measured in the same run: reading those requests from
SQLite, which the sweep does anyway.

Printed for each of several runs: both times and their ratio; then the spread (min, median,
max) of the ratios.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.actors import Actor
from bot.config import load_settings
from storage import queries
from storage.domain import NewInvoice
from storage.store import AuditStore

AWAITING = int(os.environ.get("BENCH_AWAITING", "1000"))
RUNS = 7
COMMAND = "make bench  (python -m benchmarks reminders; BENCH_AWAITING to scale)"
NOW = datetime(2026, 12, 4, 16, tzinfo=UTC)  # a Friday, in business hours in Mexico City


def _seed(store: AuditStore) -> None:
    """AWAITING requests made over the last 70 hours (wall clock), one invoice each."""
    with store.transaction() as tx:
        for n in range(AWAITING):
            store.clock = lambda n=n: NOW - timedelta(hours=70 * n / AWAITING)
            tx.create_request(kind="cancel", requester=Actor("U0ANA", "ana"), invoices=[
                NewInvoice(ref_key=f"{n:08X}-0000-4000-8000-000000000000")],
                approvals_channel="C0BENCH")


def main() -> None:
    settings = load_settings(_env_file=None, remind_after_h=2, last_reminder_h=2,
                             escalate_after_h=24)
    calendar, ttl = settings.calendar, timedelta(hours=settings.approval_ttl_h)
    with tempfile.TemporaryDirectory() as folder:
        store = AuditStore.open(Path(folder) / "bench.db")
        _seed(store)
        ratios = []
        print(f"{COMMAND}\n{AWAITING} requests awaiting approval, nothing due")
        for run in range(1, RUNS + 1):
            started = time.perf_counter()
            rows = queries.awaiting_approval(store)
            read = time.perf_counter() - started
            started = time.perf_counter()
            for row in rows:  # what a sweep computes per request
                created = datetime.fromisoformat(row["created_at"].replace("Z", "+00:00"))
                calendar.business_hours(NOW, created + ttl)
                calendar.business_hours(created, NOW)
                calendar.business_hours(created, NOW)
            arithmetic = time.perf_counter() - started
            ratios.append(arithmetic / read)
            print(f"  run {run}: read {read * 1000:.1f} ms, calendar {arithmetic * 1000:.1f} ms "
                  f"({arithmetic / read:.1f}x the read)")
        print(f"ratio min {min(ratios):.1f}x, median {statistics.median(ratios):.1f}x, "
              f"max {max(ratios):.1f}x")
        store.close()


if __name__ == "__main__":
    main()

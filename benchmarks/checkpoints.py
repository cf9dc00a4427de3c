"""Verifying the audit log against a year of hourly checkpoints, against verifying its chain
alone (the baseline, in the same run on the same file).

The file: HOURS hours, each with EVENTS_PER_HOUR events and one checkpoint (signed over the
head, recorded as the next event, appended to the checkpoints file), written straight into
SQLite with the chain's formula and the real signer. Each verification runs RUNS times,
alternating the two; the figures are the median and the spread (min-max) of those runs.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.evidence.note import Checkpoint, SignedCheckpoint, SigningKey
from bot.evidence.publishing import read_file
from bot.evidence.verifying import verify
from storage import evidence
from storage.chain import GENESIS, canonical_json, event_hash
from storage.chain import verify as verify_chain
from storage.store import AuditStore, iso

HOURS = int(os.environ.get("BENCH_CHECKPOINT_HOURS", "8760"))   # a year, hourly
EVENTS_PER_HOUR = int(os.environ.get("BENCH_EVENTS_PER_HOUR", "6"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
COMMAND = ("python -m benchmarks checkpoints  (BENCH_CHECKPOINT_HOURS, BENCH_EVENTS_PER_HOUR, "
           "BENCH_RUNS to scale)")
ORIGIN = "cfdi-bot/simulated-provider"


def build(db_path: Path, file: Path, key: SigningKey) -> int:
    """The year's log and checkpoints file; returns the number of events."""
    AuditStore.open(db_path).close()  # the schema
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    base = datetime(2026, 1, 1, tzinfo=UTC)
    prev, event_id, previous = GENESIS, 0, None
    notes = []

    def append(action: str, details: dict[str, object], at: datetime) -> None:
        nonlocal prev, event_id
        event_id += 1
        event = {"id": event_id, "at": iso(at), "actor_id": "U0ANA", "actor_name": "ana",
                 "action": action, "request_id": event_id // 7 or None, "invoice_ref": None,
                 "details": canonical_json(details)}
        digest = event_hash(event, prev)
        conn.execute("INSERT INTO events (id, at, actor_id, actor_name, action, request_id, "
                     "invoice_ref, details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
                     (*event.values(), prev, digest))
        prev = digest

    for hour in range(HOURS):
        start = base + timedelta(hours=hour)
        for n in range(EVENTS_PER_HOUR):
            append("invoice_cancelled", {"from": "submitting", "to": "cancelled", "n": n},
                   start + timedelta(minutes=n))
        signed = SignedCheckpoint.sign(Checkpoint(ORIGIN, event_id, prev,
                                                  iso(start + timedelta(minutes=59)), previous),
                                       key)
        append(evidence.ACTION, {"size": event_id, "signature": signed.signature,
                                 "note": signed.note}, start + timedelta(minutes=59))
        notes.append(signed.note + "\n")
        previous = signed.signature
    conn.execute("COMMIT")
    conn.close()
    file.write_text("".join(notes), encoding="utf-8")
    return event_id


def _timed(run: Callable[[], bool]) -> float:
    start = time.perf_counter()
    assert run(), "the untouched log must verify"
    return time.perf_counter() - start


def main() -> None:
    key = SigningKey(ORIGIN, Ed25519PrivateKey.generate())
    with tempfile.TemporaryDirectory() as folder:
        db_path, file = Path(folder) / "year.db", Path(folder) / "year.checkpoints"
        started = time.perf_counter()
        count = build(db_path, file, key)
        built = time.perf_counter() - started
        conn = sqlite3.connect(db_path)
        db = sqlite_utils.Database(conn)

        def chain_alone() -> bool:
            return verify_chain(db).ok

        def with_checkpoints() -> bool:
            return verify(evidence.chain(db), read_file(file), key.public, str(file), "en").ok

        alone, checked = [], []
        for _ in range(RUNS):
            alone.append(_timed(chain_alone))
            checked.append(_timed(with_checkpoints))
        conn.close()
        size = file.stat().st_size
    print(f"checkpoints — {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; {COMMAND}")
    print(f"  log: {count:,} events, {HOURS:,} hourly checkpoints ({EVENTS_PER_HOUR} events an "
          f"hour); checkpoints file {size / 1e6:.1f} MB; built in {built:.1f} s")
    for name, times in (("chain alone (audit verify)", alone),
                        ("against every checkpoint (audit verify --checkpoints)", checked)):
        print(f"  {name}: median {statistics.median(times):.2f} s, spread "
              f"{min(times):.2f}-{max(times):.2f} s over {RUNS} runs")
    ratio = statistics.median(checked) / statistics.median(alone)
    extra_ms = (statistics.median(checked) - statistics.median(alone)) / HOURS * 1000
    print(f"  with checkpoints = {ratio:.2f}x the chain alone "
          f"({extra_ms:.3f} ms more per checkpoint)")


if __name__ == "__main__":
    main()

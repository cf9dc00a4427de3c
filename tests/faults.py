"""The fault ledger: each fault test names what it injects; the suite ends by printing how
many faults were injected, how many the bot survived, and how many requests were lost."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlite_utils

from storage import chain
from storage.states import FINAL_INVOICE

KNOWN_REQUEST = {"awaiting_approval", "approved", "submitting", "submitted", "completed",
                 "rejected", "expired", "failed"}
KNOWN_INVOICE = set(FINAL_INVOICE) | {"requested", "pending"}


@dataclass
class Ledger:
    """The faults injected by the suite, those the bot survived, and what was lost or done twice."""
    injected: list[str] = field(default_factory=list)
    survived: list[str] = field(default_factory=list)
    lost: int = 0
    duplicates: int = 0  # side effects done twice: an e-mail sent twice, an invoice in two
    #                      live cancellations


def duplicate_side_effects(sent: list[tuple[str, str]], db: sqlite_utils.Database) -> int:
    """E-mails (invoice, address) sent more than once, and invoices live in two requests."""
    twice = len(sent) - len(set(sent))
    live = db.execute("SELECT count(*) - count(DISTINCT ref_key) FROM invoices WHERE live = 1"
                      ).fetchone()[0]
    return twice + int(live)


LEDGER = Ledger()


def lost_requests(db: sqlite_utils.Database) -> int:
    """Requests (or their invoices) in no known state, or a broken audit chain."""
    lost = sum(1 for r in db.query("SELECT status FROM requests") if r["status"] not in
               KNOWN_REQUEST)
    lost += sum(1 for i in db.query("SELECT status FROM invoices") if i["status"] not in
                KNOWN_INVOICE)
    return lost + (0 if chain.verify(db).ok else 1)


@contextmanager
def injected(what: str, db: sqlite_utils.Database | None = None,
             sent: list[tuple[str, str]] | None = None) -> Iterator[None]:
    """Record a fault; it counts as survived when the test body passes, and the database
    (when given) holds every request in a known state with an intact chain, and nothing was
    done twice (`sent`: the e-mails the provider sent)."""
    LEDGER.injected.append(what)
    yield
    if db is not None:
        lost = lost_requests(db)
        LEDGER.lost += lost
        assert lost == 0, f"{lost} request(s) lost after: {what}"
        twice = duplicate_side_effects(sent or [], db)
        LEDGER.duplicates += twice
        assert twice == 0, f"{twice} side effect(s) done twice after: {what}"
    LEDGER.survived.append(what)


def fill_disk(conn: sqlite3.Connection) -> None:
    """The database file can grow no more (a size limit at what it holds now) and every free
    byte in it is used up: the next write that needs room fails with SQLITE_FULL."""
    conn.execute("CREATE TABLE IF NOT EXISTS filler (b BLOB)")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    for size in (4096, 512, 64, 8, 1):
        with contextlib.suppress(sqlite3.OperationalError):
            while True:
                conn.execute("INSERT INTO filler VALUES (zeroblob(?))", (size,))


def free_disk(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA max_page_count = 1073741823")
    conn.execute("DROP TABLE IF EXISTS filler")

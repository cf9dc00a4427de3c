"""The audit store: one SQLite file, current-state rows, and the append-only event chain.

The bot writes through `AuditStore.writing()` (never waiting on the event loop for the
lock), or, for a large request's work, in a worker thread (`write_off_loop`,
storage/aside.py); each write is one `Tx` (storage/tx.py). Reads stay here: in WAL mode a
reader never waits for a writer.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from storage import schema
from storage.aside import PRAGMAS as ASIDE_PRAGMAS
from storage.aside import Aside
from storage.chain import Verdict, canonical_json
from storage.chain import verify as verify_chain
from storage.checkpoints import Checkpoints
from storage.domain import Row, Who
from storage.errors import WriteTimeout, busy
from storage.redact import Redactor
from storage.sql import connect, iso, utc_now
from storage.states import Entity
from storage.tx import VERBATIM, Tx

# How long a blocking write (the CLI, tests, benchmarks) waits for another writer. The bot
# never blocks on the lock: it writes through `writing()`, which waits off the event loop.
BUSY_TIMEOUT_MS = 2_000


# How long the bot's writes wait for another writer before giving up (WriteTimeout):
ACK_WAIT_S = 1.5          # a write in an answer to Slack, which must leave within 3 s


BACKGROUND_WAIT_S = 20.0  # background work outwaits a short lock held by another process


T = TypeVar("T")


class AuditStore:
    """The audit file: writes that never block the event loop, and reads."""

    def __init__(self, db: sqlite_utils.Database, *, clock: Callable[[], datetime] = utc_now,
                 secrets: Iterable[str] = ()) -> None:
        self.db = db
        self.clock = clock
        self.redactor = Redactor(secrets)
        self._lock = threading.RLock()
        self._tx: Tx | None = None
        self._aside: Aside | None = None  # the other connections, made on first use
        self._file: str | None = None  # _path's answer, read once

    @classmethod
    def open(cls, path: str | Path, **options: Any) -> AuditStore:
        """Open (creating folders and file) and migrate to the latest schema."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = connect(path, BUSY_TIMEOUT_MS / 1000)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db = sqlite_utils.Database(conn)
        schema.migrate(db)
        return cls(db, **options)

    def close(self) -> None:
        if self._aside is not None:
            self._aside.close()  # after the off-loop write in progress, if any
        self.db.conn.close()

    def defer_checkpoints(self) -> Checkpoints:
        """No automatic WAL checkpoint in this connection's commits: the caller runs the
        returned Checkpoints in a worker thread instead (storage/checkpoints.py says why)."""
        self.db.conn.execute("PRAGMA wal_autocheckpoint = 0")  # the other connection follows
        return Checkpoints(Path(self._path() or ""))

    def now(self) -> str:
        return iso(self.clock())

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One write transaction; nested calls join the outer one."""
        with self._lock:
            if self._tx is not None:
                yield self._tx
                return
            self.db.conn.execute("BEGIN IMMEDIATE")
            with self._opened() as tx:
                yield tx

    @contextmanager
    def _opened(self) -> Iterator[Tx]:
        """The body of a transaction just begun: COMMIT, or ROLLBACK on any error."""
        conn = self.db.conn
        self._tx = Tx(self)
        try:
            yield self._tx
            conn.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (SQLITE_FULL, an I/O error): a second
            # ROLLBACK would hide the real error behind "no transaction is active".
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            self._tx = None

    @asynccontextmanager
    async def writing(self, within_s: float = BACKGROUND_WAIT_S) -> AsyncIterator[Tx]:
        """One write transaction for code on the event loop, which must never block on the
        lock: BEGIN IMMEDIATE is tried without a busy wait and, while another writer holds
        the lock, tried again after `asyncio.sleep` until `within_s` (then WriteTimeout,
        nothing written). The body runs between BEGIN and COMMIT without awaiting: it takes
        milliseconds, and no other coroutine can slip into the transaction. Never nested."""
        deadline = time.monotonic() + within_s
        pause = 0.002
        while not self._try_begin():
            left = deadline - time.monotonic()
            if left <= 0:
                raise WriteTimeout(within_s)
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)
        try:
            with self._opened() as tx:
                yield tx
        finally:
            self._lock.release()

    def _try_begin(self) -> bool:
        """BEGIN IMMEDIATE now, or False when another writer (a thread, a process, or a
        transaction of this connection still open) holds the lock."""
        if not self._lock.acquire(blocking=False):
            return False
        conn = self.db.conn
        if self._tx is not None or conn.in_transaction:
            self._lock.release()
            return False
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("BEGIN IMMEDIATE")
            return True
        except sqlite3.OperationalError as exc:
            self._lock.release()
            if busy(exc):
                return False
            raise
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    async def write(self, work: Callable[[Tx], T], *, off_loop: bool = False,
                    within_s: float = BACKGROUND_WAIT_S) -> T:
        """`work` in one write transaction: on the loop (`writing`), or `off_loop` (a batch
        of a large request's work: write_off_loop)."""
        if off_loop:
            return await self.write_off_loop(work, within_s)
        async with self.writing(within_s) as tx:
            return work(tx)

    async def write_off_loop(self, work: Callable[[Tx], T], within_s: float = BACKGROUND_WAIT_S
                             ) -> T:
        """`work` in one write transaction run in a worker thread, on a connection of its
        own (storage/aside.py): a large request's writes over thousands of rows would
        otherwise hold the event loop 50-150 ms while every Slack answer waited. The loop
        goes on meanwhile: its own writers wait for the lock as they wait for another
        process's, and its readers see the last commit (WAL), never half of this one. A file
        store only (an in-memory one has no second connection): otherwise on the loop."""
        if (aside := self._aside_store()) is None:
            return await self.write(work, within_s=within_s)
        return await asyncio.to_thread(aside.write, lambda conn: work(Tx(self, conn)),
                                       within_s, self._pragmas())

    async def read_off_loop(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """The rows of one query read in a worker thread, on a reader of its own: for reads
        of thousands of rows or megabytes (a large request's invoices, every reply owed, a
        large list's CSV)."""
        if (aside := self._aside_store()) is None:
            return list(self.db.query(sql, params))
        return await asyncio.to_thread(aside.read, sql, params, self._pragmas())

    def _pragmas(self) -> dict[str, int]:
        """The main connection's settings the other connections take (read on the loop)."""
        return {name: int(self.db.conn.execute(f"PRAGMA {name}").fetchone()[0])
                for name in ASIDE_PRAGMAS}

    def _aside_store(self) -> Aside | None:
        if self._aside is None and (path := self._path()) is not None:
            self._aside = Aside(path)
        return self._aside

    def _path(self) -> str | None:
        """The database file (None: an in-memory database)."""
        if self._file is None:
            self._file = next(row[2] for row in self.db.conn.execute("PRAGMA database_list")
                              if row[1] == "main")
        return self._file or None

    async def append(self, actor: Who, action: str, within_s: float = BACKGROUND_WAIT_S,
                     **options: Any) -> Row:
        """`record` for code on the event loop: one event, in its own transaction."""
        async with self.writing(within_s) as tx:
            return tx.record(actor, action, **options)

    # One-transaction shortcuts for the common single moves.
    def transition(self, entity: Entity, entity_id: int, to: str, actor: Who,
                   **options: Any) -> Row:
        with self.transaction() as tx:
            return tx.transition(entity, entity_id, to, actor, **options)

    def record(self, actor: Who, action: str, **options: Any) -> Row:
        with self.transaction() as tx:
            return tx.record(actor, action, **options)

    def verify(self) -> Verdict:
        """Walk the event chain (audit verify, the demo, checks)."""
        return verify_chain(self.db)

    def last_event_id(self) -> int:
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])

    def scrub(self, text: str) -> str:
        """`text` without any secret, raw or escaped (see storage/redact.py)."""
        return self.redactor.scrub(text)

    def scrub_json(self, value: dict[str, Any] | None) -> str:
        """Canonical JSON of `value`, each string scrubbed before it is encoded. Encoded
        first: when no secret appears in the text (nearly always), the walk through every
        string is skipped (a 5,000-line reply's walk held the loop 60-90 ms)."""
        encoded = canonical_json(value or {})
        if self.redactor.absent_from(encoded):
            return encoded
        return canonical_json(self.redactor.scrub_value(value or {}))

    def scrub_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Column values as they may be written: every text scrubbed, except the SAT's
        signed acuse, which is kept byte for byte (it is the SAT's document, not an echo)."""
        return {name: self.scrub(v) if isinstance(v, str) and name not in VERBATIM else v
                for name, v in fields.items()}

"""The audit file's other connections, used from worker threads, so that a large request's
writes and reads never hold the event loop (AuditStore.write_off_loop, read_off_loop).

One writer connection, its transactions one at a time (a lock, waited for no longer than the
write's own bound: then WriteTimeout, as `AuditStore.writing`); readers of their own, one per
thread at a time, so a read never queues behind a write (WAL: a reader sees the last commit,
never half of one). Each use takes the main connection's settings, read on the loop and
handed in: no automatic WAL checkpoint when the bot runs them in a worker thread
(storage/checkpoints.py), and the same limits (read-only, a size cap)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from storage.domain import Row
from storage.errors import WriteTimeout, busy
from storage.sql import connect, rows_of

T = TypeVar("T")
PRAGMAS = ("wal_autocheckpoint", "query_only", "max_page_count")


class Aside:
    """The other connections to one audit file, for worker threads."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._writer: sqlite3.Connection | None = None
        self._write_lock = threading.Lock()
        self._readers: list[sqlite3.Connection] = []  # idle ones
        self._all: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False

    def write(self, work: Callable[[sqlite3.Connection], T], within_s: float,
              pragmas: dict[str, int]) -> T:
        """`work` between BEGIN IMMEDIATE and COMMIT (ROLLBACK on any error); WriteTimeout
        when this connection or another writer held the lock past `within_s`."""
        if not self._write_lock.acquire(timeout=within_s):
            raise WriteTimeout(within_s)
        try:
            if self._writer is None:
                self._writer = self._connect()
            conn = self._writer
            _settle(conn, pragmas, within_s)
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if busy(exc):
                    raise WriteTimeout(within_s) from None
                raise
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result
        finally:
            self._write_lock.release()

    def read(self, sql: str, params: Sequence[Any], pragmas: dict[str, int]) -> list[Row]:
        conn = self._take_reader()
        try:
            _settle(conn, pragmas, None)
            return rows_of(conn.execute(sql, params))  # a page at a time
        finally:
            with self._readers_lock:
                self._readers.append(conn)

    def close(self) -> None:
        """Once the write in progress (if any) is done: a stop's cancelled task does not
        stop its thread, and its connection is never closed under it."""
        with self._write_lock, self._readers_lock:
            self._closed = True
            for conn in self._all:
                conn.close()

    def _take_reader(self) -> sqlite3.Connection:
        with self._readers_lock:
            if self._readers:
                return self._readers.pop()
        return self._connect()

    def _connect(self) -> sqlite3.Connection:
        with self._readers_lock:
            if self._closed:
                raise sqlite3.ProgrammingError("the audit store is closed")
            conn = connect(self.path)
            self._all.append(conn)
        return conn


def _settle(conn: sqlite3.Connection, pragmas: dict[str, int], within_s: float | None) -> None:
    for name, value in pragmas.items():
        conn.execute(f"PRAGMA {name} = {int(value)}")
    if within_s is not None:
        conn.execute(f"PRAGMA busy_timeout = {int(within_s * 1000)}")

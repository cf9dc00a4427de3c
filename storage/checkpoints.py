"""WAL checkpoints away from the event loop.

In WAL mode a commit appends pages to the `-wal` file, and by default the commit that takes
the file past 1,000 pages also copies them into the database and syncs it to disk (the
automatic checkpoint). That commit then takes 5-9 ms instead of 0.1 ms (measured on this
project's machines: about one commit in a hundred), and on the bot's event loop those
milliseconds are every Slack answer's. So the bot turns the automatic checkpoint off for its
connection and a periodic task runs `wal_checkpoint(PASSIVE)` in a worker thread, on a
connection of its own: SQLite releases the GIL while it copies and syncs, a PASSIVE
checkpoint never waits for readers or writers, and writers never wait for it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class Checkpoints:
    """Runs one checkpoint at a time for the database at `path`, from any thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._failing = False

    def run(self) -> int:
        """Copy what the WAL holds into the database (as far as readers allow); returns the
        pages copied. Blocking: call it in a worker thread. A failure (a full disk) is
        logged once per spell and the next run tries again; the WAL keeps every commit."""
        with self._lock:
            if self._closed:
                return 0
            try:
                if self._conn is None:
                    self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=0,
                                                 check_same_thread=False)
                _busy, _log_pages, copied = self._conn.execute(
                    "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as exc:
                if not self._failing:
                    log.warning("could not checkpoint the audit file's WAL: %s", exc)
                self._failing = True
                return 0
            if self._failing:
                log.info("the audit file's WAL checkpoints again")
            self._failing = False
            return int(copied)

    def close(self) -> None:
        """Waits for a checkpoint in progress; later runs do nothing."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

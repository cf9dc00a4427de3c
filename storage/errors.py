"""Why a write was refused: every one leaves the file as it was."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from storage.domain import Row
from storage.states import Entity


class TransitionError(Exception):
    """A state change was refused; nothing was written."""


class NotFound(TransitionError):
    """The request or invoice does not exist."""


class DuplicateRequest(TransitionError):
    """The same Slack delivery asked twice; `request_id` is the request it created first."""

    def __init__(self, request_id: int) -> None:
        super().__init__(f"request {request_id} was already created by this delivery")
        self.request_id = request_id


class IllegalTransition(TransitionError):
    """The move is not allowed from the current status."""

    def __init__(self, entity: Entity, entity_id: int, current: str | None, target: str) -> None:
        super().__init__(f"{entity} {entity_id} cannot move from {current} to {target}")
        self.current, self.target = current, target


class InvoicesTaken(TransitionError):
    """Some invoices are already in a live cancellation (or cancelled); nothing was written.
    `rows` are the live rows that hold them."""

    def __init__(self, rows: list[Row]) -> None:
        super().__init__(f"already requested: {[r['ref_key'] for r in rows]}")
        self.rows = rows


_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def busy(exc: sqlite3.OperationalError) -> bool:
    """Another writer (a thread, a process) holds the lock: try again, not a fault."""
    return exc.sqlite_errorcode & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)


class WriteTimeout(sqlite3.OperationalError):
    """Another writer kept the database locked past the bound; nothing was written."""

    def __init__(self, within_s: float) -> None:
        super().__init__(f"the audit database stayed locked by another writer for {within_s:g} s")
        self.within_s = within_s


class StaleState(TransitionError):
    """Compare-and-set lost: the row was no longer in the expected state (another writer won)."""

    def __init__(self, entity: Entity, entity_id: int, expected: Iterable[str], current: str):
        super().__init__(f"{entity} {entity_id} is {current}, not {' or '.join(sorted(expected))}")
        self.current = current

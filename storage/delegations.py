"""Delegations: an approver's stand-in until the end of a day (table `delegations`, schema v14).

Reads take the store; writes take an open transaction (`Tx`) and append their event to the
chain in it, so a delegation and its audit line are one commit. "In force" means not ended
early and not past its end (`ends_at`, UTC), at the moment the caller gives.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from storage.domain import Row, Who
from storage.sql import iso
from storage.store import AuditStore
from storage.tx import Tx

_IN_FORCE = "ended_at IS NULL AND ends_at > ?"


def in_force(store: AuditStore, now: datetime) -> list[Row]:
    """Every delegation in force, by delegator (App Home, `check`)."""
    return list(store.db.query(
        f"SELECT * FROM delegations WHERE {_IN_FORCE} ORDER BY delegator_name, id",
        [iso(now)]))


def in_force_in(path: Path, now: datetime, timeout_s: float) -> list[Row]:
    """`check`: the delegations in force in the file at `path`, read only (nothing migrated;
    a file from before schema v14 has none)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout_s)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'delegations'").fetchone() \
                is None:
            return []
        cursor = conn.execute(f"SELECT * FROM delegations WHERE {_IN_FORCE} "
                              f"ORDER BY delegator_name, id", (iso(now),))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()


def of_delegator(store: AuditStore, user_id: str, now: datetime) -> Row | None:
    """delegations_open: the delegation this approver has in force, if any."""
    rows = list(store.db.query(
        f"SELECT * FROM delegations WHERE delegator_id = ? AND {_IN_FORCE}", [user_id, iso(now)]))
    return rows[0] if rows else None


def for_delegate(store: AuditStore, user_id: str, now: datetime) -> list[Row]:
    """delegations_by_delegate: whom this person stands in for now, oldest first."""
    return list(store.db.query(
        f"SELECT * FROM delegations WHERE delegate_id = ? AND {_IN_FORCE} ORDER BY id",
        [user_id, iso(now)]))


def tx_in_force(tx: Tx, user_id: str, *, as_delegate: bool) -> list[Row]:
    """Inside a write: the delegations in force that name this person (as the stand-in, or
    as the approver), read under the write lock so that two at once cannot make a chain."""
    column = "delegate_id" if as_delegate else "delegator_id"
    cursor = tx.conn.execute(
        f"SELECT * FROM delegations WHERE {column} = ? AND {_IN_FORCE} ORDER BY id",
        (user_id, tx.store.now()))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def start(tx: Tx, delegator: Who, delegate: Who, until_day: str, ends_at: datetime) -> int:
    """Name `delegate` as `delegator`'s stand-in until the end of `until_day`; an open one
    of the same approver ends first (its own event). Returns the new delegation's id."""
    end(tx, delegator, replaced=True)
    cursor = tx.conn.execute(
        "INSERT INTO delegations (delegator_id, delegator_name, delegate_id, delegate_name, "
        "until_day, ends_at, created_at) VALUES (?,?,?,?,?,?,?)",
        (delegator.id, delegator.name, delegate.id, delegate.name, until_day, iso(ends_at),
         tx.store.now()))
    delegation_id = int(cursor.lastrowid or 0)
    tx.record(delegator, "delegation_started", details={
        "delegation": delegation_id, "delegate_id": delegate.id,
        "delegate_name": delegate.name, "until": until_day, "ends_at": iso(ends_at)})
    return delegation_id


def end(tx: Tx, delegator: Who, *, replaced: bool = False) -> Row | None:
    """End the approver's open delegation now (the one in force, or one already past its
    day, which is closed silently); the one that was in force, if any."""
    now = tx.store.now()
    cursor = tx.conn.execute("SELECT * FROM delegations WHERE delegator_id = ? AND "
                             "ended_at IS NULL", (delegator.id,))
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    if row is None:
        return None
    found = dict(zip(names, row, strict=True))
    tx.conn.execute("UPDATE delegations SET ended_at = ? WHERE id = ?", (now, found["id"]))
    if found["ends_at"] <= now:
        return None  # it had run out on its own: nothing was in force
    tx.record(delegator, "delegation_ended", details={
        "delegation": found["id"], "delegate_id": found["delegate_id"],
        "delegate_name": found["delegate_name"], "until": found["until_day"],
        "replaced": replaced})
    return found

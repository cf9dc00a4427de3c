"""What the reminders, the escalation and the daily digest read and write
(bot/watching/reminders.py).

A message to a person is claimed (a row) before it is sent and marked sent, with its audit
event, once Slack took it: a restart never sends it twice (a crash in between leaves it
claimed: at most once). One Slack refused is marked failed and may be claimed again, up to
ATTEMPTS times in all.
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.sql import marks as _marks
from storage.store import AuditStore
from storage.tx import Tx

DAY_DONE = ""  # the user_id of the row that marks a day's digest as done
ATTEMPTS = 3   # sends of one message Slack refused before the bot gives up on it
_OPEN = "failed_at IS NOT NULL AND attempts < ?"  # refused, to be tried again


def voters(store: AuditStore, request_ids: Sequence[int]) -> dict[int, set[str]]:
    """approvals_by_request: who already decided each request."""
    found: dict[int, set[str]] = {i: set() for i in request_ids}
    if request_ids:
        for row in store.db.query(f"SELECT request_id, user_id FROM approvals WHERE "
                                  f"request_id IN ({_marks(request_ids)})", list(request_ids)):
            found[row["request_id"]].add(row["user_id"])
    return found


def claimed(store: AuditStore, request_ids: Sequence[int]) -> dict[int, set[tuple[str, str]]]:
    """reminders_once: (user, kind) of every reminder sent, being sent, or given up on, for
    each request (not those to be tried again)."""
    found: dict[int, set[tuple[str, str]]] = {i: set() for i in request_ids}
    if request_ids:
        for row in store.db.query(f"SELECT request_id, user_id, kind FROM reminders WHERE "
                                  f"request_id IN ({_marks(request_ids)}) AND NOT ({_OPEN})",
                                  [*request_ids, ATTEMPTS]):
            found[row["request_id"]].add((row["user_id"], row["kind"]))
    return found


def digest_done(store: AuditStore, day: str) -> bool:
    """digests_once: the day's digest has run."""
    return store.db.execute("SELECT 1 FROM reminders WHERE kind = 'digest' AND day = ? AND "
                            "user_id = ?", [day, DAY_DONE]).fetchone() is not None


def digests_to_retry(store: AuditStore, day: str) -> set[str]:
    """digests_once: who the day's digest was refused for, to be tried again."""
    return {row["user_id"] for row in store.db.query(
        f"SELECT user_id FROM reminders WHERE kind = 'digest' AND day = ? AND {_OPEN}",
        [day, ATTEMPTS])}


def claim(tx: Tx, kind: str, user_id: str, *, request_id: int | None = None,
          day: str | None = None) -> int | None:
    """The right to send this message once (or again, after Slack refused it); None when it
    was claimed before."""
    now = tx.store.now()
    cursor = tx.conn.execute(
        "INSERT OR IGNORE INTO reminders (kind, request_id, day, user_id, attempted_at) "
        "VALUES (?,?,?,?,?)", (kind, request_id, day, user_id, now))
    if cursor.rowcount == 1:
        return int(cursor.lastrowid or 0)
    again = tx.one(f"SELECT id FROM reminders WHERE kind = ? AND user_id = ? AND request_id IS ? "
                   f"AND day IS ? AND {_OPEN}", (kind, user_id, request_id, day, ATTEMPTS))
    if again is None:
        return None
    tx.conn.execute("UPDATE reminders SET attempts = attempts + 1, failed_at = NULL, "
                    "attempted_at = ? WHERE id = ?", (now, again["id"]))
    return int(again["id"])


def sent(tx: Tx, reminder_id: int) -> None:
    tx.conn.execute("UPDATE reminders SET sent_at = ? WHERE id = ?",
                    (tx.store.now(), reminder_id))


def failed(tx: Tx, reminder_id: int) -> None:
    """Slack refused the message: nothing was sent; the next sweep may try again."""
    tx.conn.execute("UPDATE reminders SET failed_at = ? WHERE id = ? AND sent_at IS NULL",
                    (tx.store.now(), reminder_id))

"""What the reminders, the escalation and the daily digest read and write
(bot/watching/reminders.py).

A message to a person is claimed (a row) in the transaction that audits it, before it is sent,
so a restart never sends it twice; a refused one gives its claim back, to be tried again.
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.sql import marks as _marks
from storage.store import AuditStore
from storage.tx import Tx

DAY_DONE = ""  # the user_id of the row that marks a day's digest as done


def voters(store: AuditStore, request_ids: Sequence[int]) -> dict[int, set[str]]:
    """approvals_by_request: who already decided each request."""
    found: dict[int, set[str]] = {i: set() for i in request_ids}
    if request_ids:
        for row in store.db.query(f"SELECT request_id, user_id FROM approvals WHERE "
                                  f"request_id IN ({_marks(request_ids)})", list(request_ids)):
            found[row["request_id"]].add(row["user_id"])
    return found


def claimed(store: AuditStore, request_ids: Sequence[int]) -> dict[int, set[tuple[str, str]]]:
    """reminders_once: (user, kind) of every reminder claimed for each request."""
    found: dict[int, set[tuple[str, str]]] = {i: set() for i in request_ids}
    if request_ids:
        for row in store.db.query(f"SELECT request_id, user_id, kind FROM reminders WHERE "
                                  f"request_id IN ({_marks(request_ids)})", list(request_ids)):
            found[row["request_id"]].add((row["user_id"], row["kind"]))
    return found


def digest_done(store: AuditStore, day: str) -> bool:
    """digests_once: the day's digest has run."""
    return store.db.execute("SELECT 1 FROM reminders WHERE kind = 'digest' AND day = ? AND "
                            "user_id = ?", [day, DAY_DONE]).fetchone() is not None


def claim(tx: Tx, kind: str, user_id: str, *, request_id: int | None = None,
          day: str | None = None) -> int | None:
    """The right to send this message once; None when it was claimed before."""
    cursor = tx.conn.execute(
        "INSERT OR IGNORE INTO reminders (kind, request_id, day, user_id, attempted_at) "
        "VALUES (?,?,?,?,?)", (kind, request_id, day, user_id, tx.store.now()))
    return int(cursor.lastrowid or 0) if cursor.rowcount == 1 else None


def sent(tx: Tx, reminder_id: int) -> None:
    tx.conn.execute("UPDATE reminders SET sent_at = ? WHERE id = ?",
                    (tx.store.now(), reminder_id))


def give_back(tx: Tx, reminder_id: int) -> None:
    """Slack refused the message: nothing was sent, the next cycle tries again."""
    tx.conn.execute("DELETE FROM reminders WHERE id = ? AND sent_at IS NULL", (reminder_id,))

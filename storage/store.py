"""The audit store: one SQLite file, current-state rows, and the append-only event chain.

Every state change goes through `Tx.transition`: it checks the move against `states`,
updates the row with compare-and-set on its status, and appends the hashed event, all in
one `BEGIN IMMEDIATE` transaction (so two writers, threads or processes, serialize and the
chain never forks). An illegal or stale move raises and writes nothing.

Why this module is long: the transaction, the checked transition and the chained event
append must stay one unit that no caller can take apart.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from storage import schema
from storage.chain import GENESIS, Verdict, canonical_json, event_hash
from storage.chain import verify as verify_chain
from storage.checkpoints import Checkpoints
from storage.domain import NewInvoice, Row, Who
from storage.redact import Redactor
from storage.states import Entity, InvoiceStatus, RequestStatus, allowed, live

# How long a blocking write (the CLI, tests, benchmarks) waits for another writer. The bot
# never blocks on the lock: it writes through `writing()`, which waits off the event loop.
BUSY_TIMEOUT_MS = 2_000
# How long the bot's writes wait for another writer before giving up (WriteTimeout):
ACK_WAIT_S = 1.5          # a write in an answer to Slack, which must leave within 3 s
BACKGROUND_WAIT_S = 20.0  # background work outwaits a short lock held by another process
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width UTC text, so that comparing strings compares times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class TransitionError(Exception):
    """A state change was refused; nothing was written."""


class NotFound(TransitionError):
    pass


class DuplicateRequest(TransitionError):
    """The same Slack delivery asked twice; `request_id` is the request it created first."""

    def __init__(self, request_id: int) -> None:
        super().__init__(f"request {request_id} was already created by this delivery")
        self.request_id = request_id


class IllegalTransition(TransitionError):
    def __init__(self, entity: Entity, entity_id: int, current: str | None, target: str) -> None:
        super().__init__(f"{entity} {entity_id} cannot move from {current} to {target}")
        self.current, self.target = current, target


class InvoicesTaken(TransitionError):
    """Some invoices are already in a live cancellation (or cancelled); nothing was written.
    `rows` are the live rows that hold them."""

    def __init__(self, rows: list[Row]) -> None:
        super().__init__(f"already requested: {[r['ref_key'] for r in rows]}")
        self.rows = rows


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


_TABLE: dict[Entity, str] = {"request": "requests", "invoice": "invoices"}
# Columns a transition may set beside the status (never id, status or created_at).
_SETTABLE: dict[Entity, frozenset[str]] = {
    "request": frozenset({"thread_ts", "approvals_channel", "approvals_required",
                          "approval_rule"}),
    "invoice": frozenset({"code", "detalle", "estatus_uuid", "acuse", "attempts",
                          "next_check_at", "pending_since", "uuid", "alerted_at",
                          "facts", "sat_asks", "sat_checked_at", "sat_disagreement"}),
}

# Columns kept exactly as received: a signed document altered would no longer verify.
_VERBATIM = frozenset({"acuse"})


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def _rows(cursor: sqlite3.Cursor) -> list[Row]:
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]


class AuditStore:
    def __init__(self, db: sqlite_utils.Database, *, clock: Callable[[], datetime] = utc_now,
                 secrets: Iterable[str] = ()) -> None:
        self.db = db
        self.clock = clock
        self.redactor = Redactor(secrets)
        self._lock = threading.RLock()
        self._tx: Tx | None = None

    @classmethod
    def open(cls, path: str | Path, **options: Any) -> AuditStore:
        """Open (creating folders and file) and migrate to the latest schema."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints; WAL keeps it safe
        db = sqlite_utils.Database(conn)
        schema.migrate(db)
        return cls(db, **options)

    def close(self) -> None:
        self.db.conn.close()

    def defer_checkpoints(self) -> Checkpoints:
        """No automatic WAL checkpoint in this connection's commits: the caller runs the
        returned Checkpoints in a worker thread instead (storage/checkpoints.py says why)."""
        self.db.conn.execute("PRAGMA wal_autocheckpoint = 0")
        path = next(row[2] for row in self.db.conn.execute("PRAGMA database_list")
                    if row[1] == "main")
        return Checkpoints(Path(path))

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
            if exc.sqlite_errorcode & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED):
                return False
            raise
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

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
        """Canonical JSON of `value`, each string scrubbed before it is encoded."""
        return canonical_json(self.redactor.scrub_value(value or {}))

    def scrub_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Column values as they may be written: every text scrubbed, except the SAT's
        signed acuse, which is kept byte for byte (it is the SAT's document, not an echo)."""
        return {name: self.scrub(v) if isinstance(v, str) and name not in _VERBATIM else v
                for name, v in fields.items()}


class Tx:
    """Writes inside one open transaction of an AuditStore."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store
        self.conn = store.db.conn

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = _rows(self.conn.execute(sql, params))
        return rows[0] if rows else None

    def live_rows(self, ref_keys: Sequence[str]) -> list[Row]:
        """The rows that keep these invoices out of a new cancellation (index invoices_live)."""
        if not ref_keys:
            return []
        return _rows(self.conn.execute(
            f"SELECT * FROM invoices WHERE live = 1 AND ref_key IN ({_marks(ref_keys)})",
            list(ref_keys)))

    def request_status(self, request_id: int) -> str | None:
        row = self.one("SELECT status FROM requests WHERE id = ?", (request_id,))
        return row["status"] if row else None

    def invoice_status(self, invoice_id: int) -> str | None:
        row = self.one("SELECT status FROM invoices WHERE id = ?", (invoice_id,))
        return row["status"] if row else None

    def request_invoices(self, request_id: int) -> list[Row]:
        return _rows(self.conn.execute(
            "SELECT * FROM invoices WHERE request_id = ? ORDER BY position", (request_id,)))

    def approvals_required(self, request_id: int) -> int:
        row = self.one("SELECT approvals_required FROM requests WHERE id = ?", (request_id,))
        return int(row["approvals_required"]) if row else 1

    def approvals(self, request_id: int) -> list[Row]:
        """The approvals counted so far, oldest first."""
        return _rows(self.conn.execute(
            "SELECT * FROM approvals WHERE request_id = ? AND decision = 'approve' ORDER BY id",
            (request_id,)))

    def facts_seen(self, request_id: int) -> list[dict[str, Any]]:
        """Per invoice of the request, the latest `invoice_facts` event (id and hash; None
        when none yet): what an approval is recorded as having been made on."""
        latest = {row["invoice_ref"]: row for row in _rows(self.conn.execute(
            "SELECT id, hash, invoice_ref FROM events WHERE request_id = ? AND "
            "action = 'invoice_facts' ORDER BY id", (request_id,)))}
        return [{"ref": row["ref_key"], "event": latest[row["ref_key"]]["id"]
                 if row["ref_key"] in latest else None,
                 "hash": latest[row["ref_key"]]["hash"] if row["ref_key"] in latest else None}
                for row in self.request_invoices(request_id)]

    def failures(self, request_id: int) -> int:
        """How many times the request's submission failed (each Retry button names one)."""
        return int(self.conn.execute(
            "SELECT count(*) FROM events WHERE request_id = ? AND action = 'submission_failed'",
            (request_id,)).fetchone()[0])

    def invoice_statuses(self, request_id: int) -> list[str]:
        return [status for (status,) in self.conn.execute(
            "SELECT status FROM invoices WHERE request_id = ?", (request_id,))]

    def outbox_attempted(self, ids: Sequence[int]) -> None:
        """These replies are about to be posted: after a crash, look in the thread first."""
        self.conn.execute(f"UPDATE outbox SET attempted_at = ? WHERE id IN ({_marks(ids)})",
                          [self.store.now(), *ids])

    def outbox_posted(self, ids: Sequence[int], ts: str) -> None:
        self.conn.execute(f"UPDATE outbox SET posted_ts = ?, posted_at = ? WHERE id IN "
                          f"({_marks(ids)})", [ts, self.store.now(), *ids])

    def card_changed(self, request_id: int) -> None:
        """What the request's card shows changed: it is owed an update (see `card_shown`)."""
        self.conn.execute("UPDATE requests SET card_version = card_version + 1 WHERE id = ?",
                          (request_id,))

    def card_shown(self, request_id: int, version: int) -> None:
        """Slack accepted the card as rendered at `version` (a later change stays owed)."""
        self.conn.execute("UPDATE requests SET card_shown = max(card_shown, ?) WHERE id = ?",
                          (version, request_id))

    def owe_acuses(self, request_id: int) -> list[int]:
        """Each distinct acuse of the request not yet owed becomes an upload owed to its
        thread (`acuse-solicitud-<id>.xml`, or `-<n>` when there are several); their ids."""
        owed = {digest for (digest,) in self.conn.execute(
            "SELECT digest FROM uploads WHERE request_id = ?", (request_id,))}
        new: dict[str, int] = {}
        for invoice_id, acuse in self.conn.execute(
                "SELECT id, acuse FROM invoices WHERE request_id = ? AND acuse IS NOT NULL "
                "ORDER BY position", (request_id,)):
            digest = hashlib.sha256(acuse.encode()).hexdigest()
            if digest not in owed:
                new.setdefault(digest, invoice_id)
        ids = []
        for number, (digest, invoice_id) in enumerate(new.items(), start=len(owed) + 1):
            suffix = f"-{number}" if owed or len(new) > 1 else ""
            cursor = self.conn.execute(
                "INSERT INTO uploads (request_id, invoice_id, digest, filename, created_at) "
                "VALUES (?,?,?,?,?)", (request_id, invoice_id, digest,
                                       f"acuse-solicitud-{request_id}{suffix}.xml",
                                       self.store.now()))
            ids.append(int(cursor.lastrowid or 0))
        return ids

    def owe_file(self, request_id: int, filename: str, content: str, title: str) -> bool:
        """A file (a CSV list) owed to the request's thread, its content kept with it; False
        when a file of that name, or the same content, is owed or shared already."""
        first = self.one("SELECT min(id) AS id FROM invoices WHERE request_id = ?",
                         (request_id,))
        cursor = self.conn.execute(
            "INSERT OR IGNORE INTO uploads (request_id, invoice_id, digest, filename, "
            "created_at, content, title) VALUES (?,?,?,?,?,?,?)",
            (request_id, first["id"] if first else None,
             hashlib.sha256(content.encode()).hexdigest(), filename, self.store.now(),
             content, title))
        return cursor.rowcount > 0

    def upload_attempted(self, upload_id: int) -> None:
        """This file is about to be uploaded: after a crash, look in the thread first."""
        self.conn.execute("UPDATE uploads SET attempted_at = ? WHERE id = ?",
                          (self.store.now(), upload_id))

    def upload_done(self, upload_id: int, file_id: str) -> None:
        self.conn.execute("UPDATE uploads SET file_id = ?, uploaded_at = ? WHERE id = ?",
                          (file_id, self.store.now(), upload_id))

    def create_request(self, *, kind: str, requester: Who, invoices: Sequence[NewInvoice],
                       source_channel: str | None = None, reason: str | None = None,
                       replacement_uuid: str | None = None, justification: str | None = None,
                       recipients: Sequence[str] | None = None, approvals_required: int = 1,
                       approvals_channel: str | None = None, client_key: str | None = None,
                       notify: Sequence[str] = (), send_options: dict[str, Any] | None = None,
                       approval_rule: dict[str, Any] | None = None) -> int:
        """Write a request (awaiting approval) and its invoices (requested), with events.

        `client_key` names the delivery that asked for it: the same key twice raises
        DuplicateRequest carrying the first request's id, and writes nothing.
        """
        if client_key is not None:
            earlier = self.one("SELECT id FROM requests WHERE client_key = ?", (client_key,))
            if earlier is not None:
                raise DuplicateRequest(int(earlier["id"]))
        now = self.store.now()
        # What people typed, scrubbed like every other text (a pasted password stays out).
        scrub = self.store.redactor.scrub_value
        justification, send_options = scrub(justification), scrub(send_options)
        cursor = self.conn.execute(
            "INSERT INTO requests (kind, requester_id, requester_name, source_channel, reason, "
            "replacement_uuid, justification, recipients, approvals_required, approvals_channel, "
            "client_key, notify, send_options, approval_rule, status, created_at, updated_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (kind, requester.id, requester.name, source_channel, reason, replacement_uuid,
             justification, json.dumps(list(recipients)) if recipients is not None else None,
             approvals_required, approvals_channel, client_key, json.dumps(list(notify)),
             json.dumps(send_options) if send_options is not None else None,
             json.dumps(approval_rule) if approval_rule is not None else None,
             RequestStatus.AWAITING_APPROVAL, now, now))
        request_id = int(cursor.lastrowid or 0)
        if kind == "cancel":
            taken = self.live_rows([inv.ref_key for inv in invoices])
            if taken:
                raise InvoicesTaken(taken)
        self.conn.executemany(
            "INSERT INTO invoices (request_id, position, ref_key, uuid, serie, folio, status, "
            "live, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
            [(request_id, pos, inv.ref_key, inv.uuid, inv.serie, inv.folio,
              InvoiceStatus.REQUESTED, live(kind, InvoiceStatus.REQUESTED), now)
             for pos, inv in enumerate(invoices)])
        self.record(requester, "request_created", request_id=request_id, details={
            "kind": kind, "to": RequestStatus.AWAITING_APPROVAL, "reason": reason,
            "replacement_uuid": replacement_uuid, "justification": justification,
            "recipients": list(recipients) if recipients is not None else None,
            "invoices": [inv.ref_key for inv in invoices], "source_channel": source_channel,
            "approvals_required": approvals_required, "notify": list(notify),
            "send_options": send_options,
            **({"approval_rule": approval_rule} if approval_rule is not None else {})})
        return request_id

    def transition(self, entity: Entity, entity_id: int, to: str, actor: Who, *,
                   expect: str | Iterable[str] | None = None, action: str | None = None,
                   fields: dict[str, Any] | None = None,
                   details: dict[str, Any] | None = None) -> Row:
        """Move one request or invoice to `to`, or raise and leave everything as it was."""
        table = _TABLE[entity]
        fields = self.store.scrub_fields(fields or {})
        unknown = set(fields) - _SETTABLE[entity]
        if unknown:
            raise ValueError(f"a transition cannot set {sorted(unknown)} on {table}")
        row = self.one(f"SELECT * FROM {table} WHERE id = ?", (entity_id,))
        if row is None:
            raise NotFound(f"{entity} {entity_id} does not exist")
        current = row["status"]
        if expect is not None:
            expected = {expect} if isinstance(expect, str) else set(expect)
            if current not in expected:
                raise StaleState(entity, entity_id, expected, current)
        if not allowed(entity, current, to):
            raise IllegalTransition(entity, entity_id, current, to)
        changes = {**fields, "status": to, "updated_at": self.store.now()}
        if entity == "invoice":
            kind = self.one("SELECT kind FROM requests WHERE id = ?", (row["request_id"],))
            changes["live"] = live(kind["kind"] if kind else "", to)
        assignments = ", ".join(f"{name} = ?" for name in changes)
        cursor = self.conn.execute(
            f"UPDATE {table} SET {assignments} WHERE id = ? AND status = ?",
            (*changes.values(), entity_id, current))
        if cursor.rowcount != 1:  # cannot happen under BEGIN IMMEDIATE; kept as the CAS proof
            raise StaleState(entity, entity_id, {current}, "changed")
        request_id = row["request_id"] if entity == "invoice" else entity_id
        invoice_ref = row["ref_key"] if entity == "invoice" else None
        self.card_changed(request_id)
        self.record(actor, action or f"{entity}_{to}", request_id=request_id,
                    invoice_ref=invoice_ref, details={"from": current, "to": to,
                                                      **(details or {})})
        return {**row, **changes}

    def set_fields(self, entity: Entity, entity_id: int, fields: dict[str, Any]) -> None:
        """Bookkeeping that is not a state change (a watcher's next check time, a card's ts)."""
        unknown = set(fields) - _SETTABLE[entity]
        if unknown:
            raise ValueError(f"cannot set {sorted(unknown)} on {_TABLE[entity]}")
        fields = self.store.scrub_fields(fields)
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self.conn.execute(f"UPDATE {_TABLE[entity]} SET {assignments} WHERE id = ?",
                          (*fields.values(), entity_id))

    def enqueue(self, request_id: int, kind: str, payload: dict[str, Any] | None = None
                ) -> int | None:
        """A thread reply owed for what this transaction changes (posted by the outbox).

        A request with no approvals channel has no thread: nothing is owed (None).
        """
        row = self.one("SELECT approvals_channel FROM requests WHERE id = ?", (request_id,))
        if row is None or not row["approvals_channel"]:
            return None
        cursor = self.conn.execute(
            "INSERT INTO outbox (request_id, kind, payload, created_at) VALUES (?,?,?,?)",
            (request_id, kind, self.store.scrub_json(payload),
             self.store.now()))
        return int(cursor.lastrowid or 0)

    def decide(self, request_id: int, actor: Who, decision: str,
               reason: str | None = None, details: dict[str, Any] | None = None) -> int:
        """Record one approver's decision; returns how many approvals the request now has.

        UNIQUE(request_id, user_id) makes a second decision by the same person fail.
        """
        self.conn.execute(
            "INSERT INTO approvals (request_id, user_id, user_name, decision, reason, decided_at)"
            " VALUES (?,?,?,?,?,?)",
            (request_id, actor.id, actor.name, decision, self.store.redactor.scrub_value(reason),
             self.store.now()))
        self.card_changed(request_id)
        self.record(actor, f"decision_{decision}", request_id=request_id,
                    details={**({"reason": reason} if reason else {}), **(details or {})})
        row = self.one("SELECT count(*) AS n FROM approvals WHERE request_id = ? AND "
                       "decision = ?", (request_id, "approve"))
        return int(row["n"]) if row else 0

    def record(self, actor: Who, action: str, *, request_id: int | None = None,
               invoice_ref: str | None = None, details: dict[str, Any] | None = None) -> Row:
        """Append one event to the chain (the caller holds the write lock)."""
        last = self.one("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1")
        prev_hash = last["hash"] if last else GENESIS
        event = {
            "id": (last["id"] + 1) if last else 1,
            "at": self.store.now(),
            "actor_id": actor.id,
            "actor_name": actor.name,
            "action": action,
            "request_id": request_id,
            "invoice_ref": invoice_ref,
            "details": self.store.scrub_json(details),
        }
        event["prev_hash"] = prev_hash
        event["hash"] = event_hash(event, prev_hash)
        self.conn.execute(
            f"INSERT INTO events ({', '.join(event)}) VALUES ({', '.join('?' * len(event))})",
            tuple(event.values()))
        return event

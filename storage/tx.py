"""One write transaction of the audit store.

Every state change goes through `Tx.transition`: it checks the move against `states`,
updates the row with compare-and-set on its status, and appends the hashed event, all in
one `BEGIN IMMEDIATE` transaction (so two writers, threads or processes, serialize and the
chain never forks). An illegal or stale move raises and writes nothing.

Why this module is long: the checked transition and the chained event append must stay one
unit that no caller can take apart."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from storage.chain import GENESIS, event_hash
from storage.domain import NewInvoice, Row, Who
from storage.errors import DuplicateRequest, IllegalTransition, InvoicesTaken, NotFound, StaleState
from storage.sql import marks, rows_of
from storage.states import Entity, InvoiceStatus, RequestKind, RequestStatus, allowed, live

if TYPE_CHECKING:
    from storage.store import AuditStore

_TABLE: dict[Entity, str] = {"request": "requests", "invoice": "invoices"}
# Columns a transition may set beside the status (never id, status or created_at).
_SETTABLE: dict[Entity, frozenset[str]] = {
    "request": frozenset({"thread_ts", "approvals_channel", "approvals_required",
                          "approval_rule", "escalated_at"}),
    "invoice": frozenset({"code", "detalle", "estatus_uuid", "acuse", "attempts",
                          "next_check_at", "pending_since", "uuid", "alerted_at",
                          "facts", "sat_asks", "sat_checked_at", "sat_disagreement"}),
}


# Columns kept exactly as received: a signed document altered would no longer verify.
VERBATIM = frozenset({"acuse"})


def _digest(acuse: str) -> str:
    return hashlib.sha256(acuse.encode()).hexdigest()


def _with_digest(fields: dict[str, Any]) -> dict[str, Any]:
    """An acuse is written with its digest (which acuses a thread owes: Tx.owe_acuses)."""
    if fields.get("acuse"):
        return {**fields, "acuse_digest": _digest(fields["acuse"])}
    return fields


class Tx:
    """Writes inside one open transaction of an AuditStore."""

    def __init__(self, store: AuditStore, conn: sqlite3.Connection | None = None) -> None:
        self.store = store
        self.conn = conn or store.db.conn  # another one: AuditStore.write_off_loop's

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = rows_of(self.conn.execute(sql, params))
        return rows[0] if rows else None

    def live_rows(self, ref_keys: Sequence[str]) -> list[Row]:
        """The rows that keep these invoices out of a new cancellation (index invoices_live)."""
        if not ref_keys:
            return []
        return rows_of(self.conn.execute(
            f"SELECT * FROM invoices WHERE live = 1 AND ref_key IN ({marks(ref_keys)})",
            list(ref_keys)))

    def request_status(self, request_id: int) -> str | None:
        row = self.one("SELECT status FROM requests WHERE id = ?", (request_id,))
        return row["status"] if row else None

    def invoice_status(self, invoice_id: int) -> str | None:
        row = self.one("SELECT status FROM invoices WHERE id = ?", (invoice_id,))
        return row["status"] if row else None

    def request_invoices(self, request_id: int) -> list[Row]:
        return rows_of(self.conn.execute(
            "SELECT * FROM invoices WHERE request_id = ? ORDER BY position", (request_id,)))

    def invoices_by_id(self, ids: Sequence[int]) -> dict[int, Row]:
        """These invoices' rows now, by id (a batch of a large request, not all of it)."""
        return {row["id"]: row for row in rows_of(self.conn.execute(
            f"SELECT * FROM invoices WHERE id IN ({marks(ids)})", list(ids)))}

    def approvals_required(self, request_id: int) -> int:
        row = self.one("SELECT approvals_required FROM requests WHERE id = ?", (request_id,))
        return int(row["approvals_required"]) if row else 1

    def approvals(self, request_id: int) -> list[Row]:
        """The approvals counted so far, oldest first."""
        return rows_of(self.conn.execute(
            "SELECT * FROM approvals WHERE request_id = ? AND decision = 'approve' ORDER BY id",
            (request_id,)))

    def facts_seen(self, request_id: int) -> list[dict[str, Any]]:
        """Per invoice of the request, the latest `invoice_facts` event (id and hash; None
        when none yet): what an approval is recorded as having been made on."""
        latest = {row["invoice_ref"]: row for row in rows_of(self.conn.execute(
            "SELECT id, hash, invoice_ref FROM events WHERE request_id = ? AND "
            "action = 'invoice_facts' ORDER BY id", (request_id,)))}
        return [{"ref": row["ref_key"], "event": latest[row["ref_key"]]["id"]
                 if row["ref_key"] in latest else None,
                 "hash": latest[row["ref_key"]]["hash"] if row["ref_key"] in latest else None}
                for row in rows_of(self.conn.execute(  # the refs only: thousands of rows
                    "SELECT ref_key FROM invoices WHERE request_id = ? ORDER BY position",
                    (request_id,)))]

    def failures(self, request_id: int) -> int:
        """How many times the request's submission failed (each Retry button names one)."""
        return int(self.conn.execute(
            "SELECT count(*) FROM events WHERE request_id = ? AND action = 'submission_failed'",
            (request_id,)).fetchone()[0])

    def all_invoices_in(self, request_id: int, statuses: Iterable[str]) -> bool:
        """Whether every invoice of the request is in one of `statuses`: asked once per
        written batch, so it looks for any of the other statuses (index
        invoices_by_request_status: a few seeks, however many invoices are already final)."""
        wanted = {str(s) for s in statuses}
        others = [s.value for s in InvoiceStatus if s.value not in wanted]
        return not others or self.conn.execute(
            f"SELECT 1 FROM invoices WHERE request_id = ? AND status IN ({marks(others)})"
            " LIMIT 1", (request_id, *others)).fetchone() is None

    def outbox_attempted(self, ids: Sequence[int]) -> None:
        """These replies are about to be posted: after a crash, look in the thread first."""
        self.conn.execute(f"UPDATE outbox SET attempted_at = ? WHERE id IN ({marks(ids)})",
                          [self.store.now(), *ids])

    def outbox_posted(self, ids: Sequence[int], ts: str) -> None:
        self.conn.execute(f"UPDATE outbox SET posted_ts = ?, posted_at = ? WHERE id IN "
                          f"({marks(ids)})", [ts, self.store.now(), *ids])

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
        for invoice_id, acuse in self.conn.execute(  # written before v18
                "SELECT id, acuse FROM invoices WHERE request_id = ? AND acuse IS NOT NULL"
                " AND acuse_digest IS NULL", (request_id,)).fetchall():
            self.conn.execute("UPDATE invoices SET acuse_digest = ? WHERE id = ?",
                              (_digest(acuse), invoice_id))
        new: dict[str, int] = {}
        # Each distinct acuse once, by its digest (a batch call's acuse is its invoices'),
        # named after the first invoice that has it (SQLite takes `id` from the row where
        # min(position) is found).
        # From the digests alone (index invoices_acuses): reading every row's copy of its
        # batch's acuse took 50-90 ms for each reply to a 5,000-invoice request.
        for invoice_id, digest, _ in self.conn.execute(
                "SELECT id, acuse_digest, min(position) AS first FROM invoices WHERE"
                " request_id = ? AND acuse_digest IS NOT NULL GROUP BY acuse_digest"
                " ORDER BY first", (request_id,)):
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
                       approval_rule: dict[str, Any] | None = None,
                       source: dict[str, Any] | None = None) -> int:
        """Write a request (awaiting approval) and its invoices (requested), with events.

        `client_key` names the delivery that asked for it: the same key twice raises
        DuplicateRequest carrying the first request's id, and writes nothing. The event
        names each invoice's own reason (`invoice_reasons`) and the file that listed them
        (`source`: its name, SHA-256 and rows).
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
        if kind == RequestKind.CANCEL:
            taken = self.live_rows([inv.ref_key for inv in invoices])
            if taken:
                raise InvoicesTaken(taken)
        self.conn.executemany(
            "INSERT INTO invoices (request_id, position, ref_key, uuid, serie, folio, reason, "
            "replacement, status, live, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [(request_id, pos, inv.ref_key, inv.uuid, inv.serie, inv.folio, inv.reason,
              inv.replacement, InvoiceStatus.REQUESTED, live(kind, InvoiceStatus.REQUESTED), now)
             for pos, inv in enumerate(invoices)])
        own = {inv.ref_key: {"reason": inv.reason, "replacement": inv.replacement}
               for inv in invoices if inv.reason or inv.replacement}
        self.record(requester, "request_created", request_id=request_id, details={
            "kind": kind, "to": RequestStatus.AWAITING_APPROVAL, "reason": reason,
            "replacement_uuid": replacement_uuid, "justification": justification,
            "recipients": list(recipients) if recipients is not None else None,
            "invoices": [inv.ref_key for inv in invoices], "source_channel": source_channel,
            "approvals_required": approvals_required, "notify": list(notify),
            "send_options": send_options,
            **({"invoice_reasons": own} if own else {}),
            **({"source": source} if source else {}),
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
        changes = {**_with_digest(fields), "status": to, "updated_at": self.store.now()}
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
        fields = _with_digest(self.store.scrub_fields(fields))
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
               reason: str | None = None, details: dict[str, Any] | None = None, *,
               by: Who | None = None) -> int:
        """Record one approver's decision; returns how many approvals the request now has.

        UNIQUE(request_id, user_id) makes a second decision by the same person fail. `by`: a
        stand-in deciding in `actor`'s place (the vote is still `actor`'s, so theirs and their
        stand-in's count once); the event names who did it and in whose place.
        """
        self.conn.execute(
            "INSERT INTO approvals (request_id, user_id, user_name, decision, reason, decided_at,"
            " acted_by_id, acted_by_name) VALUES (?,?,?,?,?,?,?,?)",
            (request_id, actor.id, actor.name, decision, self.store.redactor.scrub_value(reason),
             self.store.now(), by.id if by else None, by.name if by else None))
        self.card_changed(request_id)
        in_place = {"on_behalf_of": {"id": actor.id, "name": actor.name}} if by else {}
        self.record(by or actor, f"decision_{decision}", request_id=request_id,
                    details={**({"reason": reason} if reason else {}), **in_place,
                             **(details or {})})
        row = self.one("SELECT count(*) AS n FROM approvals WHERE request_id = ? AND "
                       "decision = ?", (request_id, "approve"))
        return int(row["n"]) if row else 0

    def decided_by(self, request_id: int, person_id: str) -> bool:
        """Whether this person already gave a decision on the request, in their own name or
        in someone's place (one person, one decision)."""
        return self.one("SELECT 1 AS yes FROM approvals WHERE request_id = ? AND "
                        "(user_id = ? OR acted_by_id = ?)",
                        (request_id, person_id, person_id)) is not None

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

"""A request's state changes that need no provider: create, approve (an approver, or a
stand-in in their place), apply an approval rule, reject, withdraw, expire, close. Each is
one transaction of the audit store; the Slack path and the watcher share them (the
provider's answers: answers.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from bot.actors import SYSTEM, Acting, Actor
from bot.approval_rules import Requirement
from bot.providers.contract import FailureCode, SendRequest
from bot.runtime.faults import crash_point
from bot.sat.cancellation import CancelItem
from bot.sat.reasons import CancelReason
from bot.sat.refs import InvoiceRef
from storage import queries
from storage.domain import NewInvoice, Row, ThreadLine
from storage.errors import StaleState
from storage.states import FINAL_INVOICE, RequestKind
from storage.states import InvoiceStatus as IS
from storage.states import ReplyKind as Reply
from storage.states import RequestStatus as RS
from storage.store import BACKGROUND_WAIT_S, AuditStore
from storage.tx import Tx

# An invoice's own (reason, replacement key) where they differ from its request's.
OwnReason = tuple[str | None, str | None]


def to_new_invoice(ref: InvoiceRef, own: OwnReason | None = None) -> NewInvoice:
    """The invoice as stored; `own`: the reason and replacement it has apart from the
    request's (None: the request's, which is what NULL in those columns means)."""
    reason, replacement = own or (None, None)
    return NewInvoice(ref_key=ref.key, uuid=ref.uuid, serie=ref.serie, folio=ref.folio,
                      reason=reason, replacement=replacement)


def own_reason(reason: CancelReason, replacement: InvoiceRef | None, *,
               request_reason: CancelReason, request_replacement: InvoiceRef | None
               ) -> OwnReason | None:
    """What an invoice stores of its reason and replacement: only what differs from its
    request's (`item_of` reads them back)."""
    own = reason.value if reason is not request_reason else None
    key = replacement.key if replacement is not None and reason.needs_replacement else None
    kept = key if key != (request_replacement.key if request_replacement else None) else None
    return (own, kept) if own or kept else None


def item_of(invoice: Row, request: Row) -> CancelItem:
    """What the provider is asked for one stored invoice: its own reason and replacement,
    else its request's (the replacement only with reason 01)."""
    reason = invoice.get("reason") or request["reason"]
    replacement = (invoice.get("replacement") or request["replacement_uuid"]) \
        if reason == CancelReason.WITH_RELATION else None
    return CancelItem(ref=ref_of(invoice), reason=reason, replacement=replacement)


def ref_of(row: Row) -> InvoiceRef:
    if row["serie"] is not None and row["folio"] is not None:
        return InvoiceRef(serie=row["serie"], folio=row["folio"])
    return InvoiceRef(uuid=row["uuid"])


async def create_cancel_request(
        store: AuditStore, requester: Actor, refs: Sequence[InvoiceRef], *, reason: str,
        justification: str, replacement: str | None = None, source_channel: str | None = None,
        approvals_required: int = 1, approvals_channel: str | None = None,
        client_key: str | None = None, notify: Sequence[str] = (),
        approval_rule: Requirement | None = None,
        own: Mapping[str, OwnReason] | None = None, source: dict[str, Any] | None = None,
        within_s: float = BACKGROUND_WAIT_S, off_loop: bool = False) -> int:
    """Write a cancellation; `own`: by ref key, the invoices' own reason and replacement
    (`own_reason`); `source`: the file that listed them, for the audit event; `off_loop`:
    written in a worker thread (a large request: thousands of rows, AuditStore.write)."""
    mine = own or {}

    def write(tx: Tx) -> int:
        return tx.create_request(
            kind=RequestKind.CANCEL, requester=requester,
            invoices=[to_new_invoice(r, mine.get(r.key)) for r in refs],
            reason=reason, replacement_uuid=replacement, justification=justification,
            source_channel=source_channel, approvals_required=approvals_required,
            approvals_channel=approvals_channel, client_key=client_key, notify=notify,
            approval_rule=approval_rule.as_json() if approval_rule else None, source=source)

    request_id = await store.write(write, off_loop=off_loop, within_s=within_s)
    crash_point("after_request_written")
    return request_id


async def create_send_request(store: AuditStore, requester: Actor, request: SendRequest, *,
                              source_channel: str | None = None, approvals_required: int = 0,
                              approvals_channel: str | None = None,
                              client_key: str | None = None) -> int:
    async with store.writing() as tx:
        request_id = tx.create_request(
            kind=RequestKind.SEND, requester=requester,
            invoices=[to_new_invoice(r) for r in request.refs],
            recipients=request.emails, source_channel=source_channel,
            approvals_required=approvals_required, approvals_channel=approvals_channel,
            client_key=client_key, send_options={
                "subject": request.subject, "message": request.message,
                "attach_pdf": request.attach_pdf})
    crash_point("after_request_written")
    return request_id


def send_request_of(request: Row, refs: Sequence[InvoiceRef]) -> SendRequest:
    """The provider-neutral `SendRequest` a stored send request stands for."""
    options = json.loads(request["send_options"] or "{}")
    return SendRequest(refs=refs, emails=json.loads(request["recipients"]),
                       subject=options.get("subject"), message=options.get("message"),
                       attach_pdf=options.get("attach_pdf", True))


def _still_awaiting(tx: Tx, request_id: int) -> None:
    """A decision counts only while the request awaits one (StaleState otherwise)."""
    status = tx.request_status(request_id)
    if status != RS.AWAITING_APPROVAL:
        raise StaleState("request", request_id, {RS.AWAITING_APPROVAL}, status or "missing")


def _in_place(acting: Acting) -> dict[str, Any]:
    """A stand-in's decision names whose it is (thread replies and events)."""
    return {"for": acting.voter.id} if acting.by else {}


async def approve(store: AuditStore, request_id: int, approver: Actor | Acting,
                  required: int | None = None, *, off_loop: bool = False) -> bool:
    """Record an approval; True when it was the one that approved the request.

    `approver`: an approver, or a stand-in in an approver's place (Acting: the vote is the
    approver's). `required` None: the request's own count, read in the transaction (a rule
    may have just changed it), at least one. The approval's event names the facts on record
    (each invoice's latest `invoice_facts` event), what the approver was shown.
    Raises StaleState when the request is no longer awaiting approval (double click,
    another approver was first), so callers can say who won instead of submitting twice;
    sqlite3.IntegrityError when this approver, or this person, already decided. `off_loop`:
    written in a worker thread (a large request, AuditStore.write).
    """
    acting = approver if isinstance(approver, Acting) else Acting(approver)
    clicked = acting.clicked

    def write(tx: Tx) -> bool:
        _still_awaiting(tx, request_id)
        if acting.by is not None and tx.decided_by(request_id, acting.by.id):
            # One person, one decision: a stand-in for two approvers still counts once.
            raise sqlite3.IntegrityError("this person already decided the request")
        needed = max(tx.approvals_required(request_id), 1) if required is None else required
        approvals = tx.decide(request_id, acting.voter, "approve", details={
            "approvals_required": needed, "facts": tx.facts_seen(request_id)},
            by=acting.by) if needed else 0
        if approvals < needed:
            tx.enqueue(request_id, Reply.APPROVAL_COUNTED,
                       {"user": clicked.id, "count": approvals, "required": needed,
                        **_in_place(acting)})
            return False
        # No approval needed: say so in the log, not "approved with 0 approvals".
        in_place = {"on_behalf_of": {"id": acting.voter.id, "name": acting.voter.name}} \
            if acting.by else {}
        tx.transition("request", request_id, RS.APPROVED, clicked if needed else SYSTEM,
                      expect=RS.AWAITING_APPROVAL, details={"approvals": approvals,
                                                            **in_place} if needed
                      else {}, action=None if needed else "approval_not_needed")
        if needed:
            tx.enqueue(request_id, Reply.APPROVED, {"user": clicked.id, **_in_place(acting)})
        return True

    # A large request's approval names thousands of invoices' facts: written off the loop.
    if not await store.write(write, off_loop=off_loop):
        return False
    crash_point("after_approval")
    return True


async def apply_rule(store: AuditStore, request_id: int, rule: Requirement) -> bool:
    """The invoices' facts are known: the request needs `rule.approvals` from now on. True
    when the approvals already counted reach it, which approves the request (an approval
    counted while the strictest rule applied is not asked for again). Nothing changes once
    the request is no longer awaiting approval."""
    said = rule.as_json()
    async with store.writing() as tx:
        if tx.request_status(request_id) != RS.AWAITING_APPROVAL:
            return False
        required = rule.approvals
        tx.set_fields("request", request_id, {"approvals_required": required,
                                              "approval_rule": json.dumps(said)})
        tx.card_changed(request_id)
        tx.record(SYSTEM, "approval_rule_applied", request_id=request_id, details=said)
        counted = tx.approvals(request_id)
        if required and len(counted) < required:
            return False
        if not counted:  # REQUIRED_APPROVALS=0 and no rule reached: as if asked at once
            tx.transition("request", request_id, RS.APPROVED, SYSTEM,
                          expect=RS.AWAITING_APPROVAL, action="approval_not_needed")
            return True
        tx.transition("request", request_id, RS.APPROVED, SYSTEM, expect=RS.AWAITING_APPROVAL,
                      details={"approvals": len(counted), "rule": said})
        last = counted[-1]
        tx.enqueue(request_id, Reply.APPROVED, {
            "user": last["acted_by_id"] or last["user_id"], "by_rule": True,
            **({"for": last["user_id"]} if last["acted_by_id"] else {})})
    return True


async def interrupted_send(store: AuditStore, request_id: int) -> None:
    """A send the process stopped in the middle of (the provider may have mailed it): never
    sent again on the bot's own; its invoices become unknown and a person decides."""
    async with store.writing() as tx:
        detail = {"code": FailureCode.INTERRUPTED.value, "detalle": None}
        lines = []
        for invoice in tx.request_invoices(request_id):
            if invoice["status"] == IS.REQUESTED:
                tx.transition("invoice", invoice["id"], IS.UNKNOWN, SYSTEM,
                              action="provider_answered",
                              fields={"code": FailureCode.INTERRUPTED.value},
                              details=detail)
                lines.append(ThreadLine(ref=invoice["ref_key"], status=IS.UNKNOWN,
                                        **detail).as_json())
        tx.transition("request", request_id, RS.SUBMITTED, SYSTEM, action="send_interrupted")
        tx.enqueue(request_id, Reply.OUTCOMES, {"invoices": lines})
        complete_if_final(tx, request_id)


def _close_invoices(tx: Tx, request_id: int, to: IS, actor: Actor) -> None:
    """A request that will never reach the provider releases its invoices at once."""
    for invoice in tx.request_invoices(request_id):
        if invoice["status"] == IS.REQUESTED:
            tx.transition("invoice", invoice["id"], to, actor, action=f"invoice_{to}")


async def reject(store: AuditStore, request_id: int, approver: Actor | Acting,
                 reason: str) -> None:
    """Reject a request awaiting approval (StaleState when someone decided first); a
    stand-in rejects in the approver's place (Acting)."""
    acting = approver if isinstance(approver, Acting) else Acting(approver)
    async with store.writing() as tx:
        _still_awaiting(tx, request_id)
        if acting.by is not None and tx.decided_by(request_id, acting.by.id):
            raise sqlite3.IntegrityError("this person already decided the request")
        tx.decide(request_id, acting.voter, "reject", reason, by=acting.by)
        in_place = {"on_behalf_of": {"id": acting.voter.id, "name": acting.voter.name}} \
            if acting.by else {}
        tx.transition("request", request_id, RS.REJECTED, acting.clicked,
                      expect=RS.AWAITING_APPROVAL, details={"reason": reason, **in_place})
        _close_invoices(tx, request_id, IS.REJECTED, acting.clicked)
        tx.enqueue(request_id, Reply.REJECTED, {"user": acting.clicked.id, "reason": reason,
                                                **_in_place(acting)})


async def withdraw(store: AuditStore, request_id: int, requester: Actor) -> None:
    """The requester takes back a request still awaiting approval: its invoices are free for
    a new request at once. Compare-and-set in one transaction: StaleState when an approver
    (or the expiry) was first, and nothing is written."""
    async with store.writing() as tx:
        _still_awaiting(tx, request_id)
        tx.transition("request", request_id, RS.WITHDRAWN, requester,
                      expect=RS.AWAITING_APPROVAL)
        _close_invoices(tx, request_id, IS.WITHDRAWN, requester)
        tx.enqueue(request_id, Reply.WITHDRAWN, {"user": requester.id})


async def expire_overdue(store: AuditStore, ttl_h: float) -> list[int]:
    """Expire the requests that waited for approval longer than `ttl_h`; their ids."""
    cutoff = store.clock() - timedelta(hours=ttl_h)
    expired = []
    for request in queries.awaiting_approval(store, older_than=cutoff):
        try:
            async with store.writing() as tx:
                tx.transition("request", request["id"], RS.EXPIRED, SYSTEM,
                              expect=RS.AWAITING_APPROVAL, details={"ttl_h": ttl_h})
                _close_invoices(tx, request["id"], IS.EXPIRED, SYSTEM)
                tx.enqueue(request["id"], Reply.EXPIRED, {"hours": ttl_h})
        except StaleState:
            continue  # approved or rejected in the meantime
        expired.append(request["id"])
    return expired


def complete_if_final(tx: Tx, request_id: int) -> None:
    if tx.request_status(request_id) == RS.SUBMITTED and \
            tx.all_invoices_in(request_id, FINAL_INVOICE):
        tx.transition("request", request_id, RS.COMPLETED, SYSTEM)
        tx.enqueue(request_id, Reply.COMPLETED)

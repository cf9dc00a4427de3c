"""A request's state changes that need no provider: create, approve, apply an approval
rule, reject, expire, close. Each is one transaction of the audit store; the Slack path and
the watcher share them (the provider's answers: answers.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from bot.actors import SYSTEM, Actor
from bot.providers.contract import SendRequest
from bot.runtime.faults import crash_point
from bot.sat.refs import InvoiceRef
from storage import queries
from storage.domain import NewInvoice, Row
from storage.errors import StaleState
from storage.states import FINAL_INVOICE, RequestKind
from storage.states import InvoiceStatus as IS
from storage.states import ReplyKind as Reply
from storage.states import RequestStatus as RS
from storage.store import BACKGROUND_WAIT_S, AuditStore
from storage.tx import Tx


def to_new_invoice(ref: InvoiceRef) -> NewInvoice:
    return NewInvoice(ref_key=ref.key, uuid=ref.uuid, serie=ref.serie, folio=ref.folio)


def ref_of(row: Row) -> InvoiceRef:
    if row["serie"] is not None and row["folio"] is not None:
        return InvoiceRef(serie=row["serie"], folio=row["folio"])
    return InvoiceRef(uuid=row["uuid"])


async def create_cancel_request(
        store: AuditStore, requester: Actor, refs: Sequence[InvoiceRef], *, reason: str,
        justification: str, replacement: str | None = None, source_channel: str | None = None,
        approvals_required: int = 1, approvals_channel: str | None = None,
        client_key: str | None = None, notify: Sequence[str] = (),
        approval_rule: dict[str, Any] | None = None,
        within_s: float = BACKGROUND_WAIT_S) -> int:
    async with store.writing(within_s) as tx:
        request_id = tx.create_request(
            kind=RequestKind.CANCEL, requester=requester,
            invoices=[to_new_invoice(r) for r in refs],
            reason=reason, replacement_uuid=replacement, justification=justification,
            source_channel=source_channel, approvals_required=approvals_required,
            approvals_channel=approvals_channel, client_key=client_key, notify=notify,
            approval_rule=approval_rule)
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
    """The `enviar` request a stored send request stands for."""
    options = json.loads(request["send_options"] or "{}")
    return SendRequest(refs=refs, emails=json.loads(request["recipients"]),
                       subject=options.get("subject"), message=options.get("message"),
                       attach_pdf=options.get("attach_pdf", True))


def _still_awaiting(tx: Tx, request_id: int) -> None:
    """A decision counts only while the request awaits one (StaleState otherwise)."""
    status = tx.request_status(request_id)
    if status != RS.AWAITING_APPROVAL:
        raise StaleState("request", request_id, {RS.AWAITING_APPROVAL}, status or "missing")


async def approve(store: AuditStore, request_id: int, approver: Actor,
                  required: int | None = None) -> bool:
    """Record an approval; True when it was the one that approved the request.

    `required` None: the request's own count, read in the transaction (an amount rule may
    have just changed it), at least one. The approval's event names the facts on record
    (each invoice's latest `invoice_facts` event), what the approver was shown.
    Raises StaleState when the request is no longer awaiting approval (double click,
    another approver was first), so callers can say who won instead of submitting twice.
    """
    async with store.writing() as tx:
        _still_awaiting(tx, request_id)
        if required is None:
            required = max(tx.approvals_required(request_id), 1)
        approvals = tx.decide(request_id, approver, "approve", details={
            "approvals_required": required, "facts": tx.facts_seen(request_id)}) \
            if required else 0
        if approvals < required:
            tx.enqueue(request_id, Reply.APPROVAL_COUNTED,
                       {"user": approver.id, "count": approvals, "required": required})
            return False
        # No approval needed: say so in the log, not "approved with 0 approvals".
        tx.transition("request", request_id, RS.APPROVED, approver if required else SYSTEM,
                      expect=RS.AWAITING_APPROVAL, details={"approvals": approvals} if required
                      else {}, action=None if required else "approval_not_needed")
        if required:
            tx.enqueue(request_id, Reply.APPROVED, {"user": approver.id})
    crash_point("after_approval")
    return True


async def apply_rule(store: AuditStore, request_id: int, rule: dict[str, Any]) -> bool:
    """The invoices' amount is known: the request needs `rule["approvals"]` from now on. True
    when the approvals already counted reach it, which approves the request (an approval
    counted while the strictest rule applied is not asked for again). Nothing changes once
    the request is no longer awaiting approval."""
    async with store.writing() as tx:
        if tx.request_status(request_id) != RS.AWAITING_APPROVAL:
            return False
        required = int(rule["approvals"])
        tx.set_fields("request", request_id, {"approvals_required": required,
                                              "approval_rule": json.dumps(rule)})
        tx.card_changed(request_id)
        tx.record(SYSTEM, "approval_rule_applied", request_id=request_id, details=rule)
        counted = tx.approvals(request_id)
        if required and len(counted) < required:
            return False
        if not counted:  # REQUIRED_APPROVALS=0 and no rule reached: as if asked at once
            tx.transition("request", request_id, RS.APPROVED, SYSTEM,
                          expect=RS.AWAITING_APPROVAL, action="approval_not_needed")
            return True
        tx.transition("request", request_id, RS.APPROVED, SYSTEM, expect=RS.AWAITING_APPROVAL,
                      details={"approvals": len(counted), "rule": rule})
        tx.enqueue(request_id, Reply.APPROVED, {"user": counted[-1]["user_id"],
                                                "by_rule": True})
    return True


async def interrupted_send(store: AuditStore, request_id: int) -> None:
    """A send the process stopped in the middle of (the provider may have mailed it): never
    sent again on the bot's own; its invoices become unknown and a person decides."""
    async with store.writing() as tx:
        detail = {"code": "interrupted", "detalle": None}
        lines = []
        for invoice in tx.request_invoices(request_id):
            if invoice["status"] == IS.REQUESTED:
                tx.transition("invoice", invoice["id"], IS.UNKNOWN, SYSTEM,
                              action="provider_answered", fields={"code": "interrupted"},
                              details=detail)
                lines.append({"ref": invoice["ref_key"], "status": IS.UNKNOWN, **detail})
        tx.transition("request", request_id, RS.SUBMITTED, SYSTEM, action="send_interrupted")
        tx.enqueue(request_id, Reply.OUTCOMES, {"invoices": lines})
        complete_if_final(tx, request_id)


def _close_invoices(tx: Tx, request_id: int, to: IS, actor: Actor) -> None:
    """A request that will never reach the provider releases its invoices at once."""
    for invoice in tx.request_invoices(request_id):
        if invoice["status"] == IS.REQUESTED:
            tx.transition("invoice", invoice["id"], to, actor, action=f"invoice_{to}")


async def reject(store: AuditStore, request_id: int, approver: Actor, reason: str) -> None:
    """Reject a request awaiting approval (StaleState when someone decided first)."""
    async with store.writing() as tx:
        _still_awaiting(tx, request_id)
        tx.decide(request_id, approver, "reject", reason)
        tx.transition("request", request_id, RS.REJECTED, approver,
                      expect=RS.AWAITING_APPROVAL, details={"reason": reason})
        _close_invoices(tx, request_id, IS.REJECTED, approver)
        tx.enqueue(request_id, Reply.REJECTED, {"user": approver.id, "reason": reason})


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
    if tx.request_status(request_id) == RS.SUBMITTED and all(
            status in FINAL_INVOICE for status in tx.invoice_statuses(request_id)):
        tx.transition("request", request_id, RS.COMPLETED, SYSTEM)
        tx.enqueue(request_id, Reply.COMPLETED)

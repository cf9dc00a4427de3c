"""Use cases of a request: create, approve, submit, re-check pending invoices.

The Slack handlers, the watcher and the demo all call these, so an invoice resolved at
once by an approval and one resolved later by the watcher go through one code path.
Each step's writes are one transaction of the audit store; the provider is called
between transactions, never while holding the write lock.

Why this module is long: every state change of a request lives here, so that the Slack
path and the watcher share one code path, including the SAT's confirmation of what the
provider reports cancelled (the watcher's later asks are bot/confirming.py, what the SAT only
received bot/received.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.actors import SYSTEM, Actor
from bot.faults import crash_point
from bot.provider import InvoiceOutcome, Provider, ProviderError, SendOutcome, SendRequest
from bot.sat.cancellation import CancelItem
from bot.sat.confirmation import Verdict, cancelled, verdict
from bot.sat.outcomes import Nuance, Outcome
from bot.sat.refs import InvoiceRef
from bot.sat.status import SatStatus
from storage import queries
from storage.domain import NewInvoice, Row
from storage.states import FINAL_INVOICE
from storage.states import InvoiceStatus as IS
from storage.states import ReplyKind as Reply
from storage.states import RequestStatus as RS
from storage.store import BACKGROUND_WAIT_S, AuditStore, StaleState, Tx, iso

# Default re-check schedule for pending invoices: 1 min, 5 min, 15 min, then hourly.
DEFAULT_BACKOFF_S: tuple[float, ...] = (60, 300, 900, 3600)
RECEIVED_CODE = "sat:201"   # the SAT received the request: not yet known to be cancelled
UNNAMED_ASKS = 3            # asks without the answer naming an invoice before it is unknown
WRITE_BATCH = 200          # provider answers written per transaction (a few ms each)
SAT_OFF = "off"            # the SAT is not asked (SAT_CONSULTA_URL): nothing can confirm
ALREADY_AT_SAT = "sat:cancelado"  # the code of an invoice left out: the SAT shows it cancelled


class SatWord(Protocol):
    """Asks the SAT about invoices (bot.facts.FactFinder): by row id, a facts record with
    the SAT's answer ("sat") or why there is none ("sat_error")."""

    @property
    def asks_sat(self) -> bool: ...

    @property
    def confirm_h(self) -> float: ...  # how long the SAT is asked to confirm (SAT_CONFIRM_H)

    async def ask_again(self, rows: Sequence[Row]) -> dict[int, dict[str, Any]]: ...


def next_check(now: datetime, attempts: int, backoff_s: Sequence[float]) -> str:
    step = backoff_s[min(max(attempts - 1, 0), len(backoff_s) - 1)]
    return iso(now + timedelta(seconds=step))


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
            kind="cancel", requester=requester, invoices=[to_new_invoice(r) for r in refs],
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
            kind="send", requester=requester, invoices=[to_new_invoice(r) for r in request.refs],
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


@dataclass
class Submission:
    request_id: int
    status: str
    outcomes: list[tuple[Row, InvoiceOutcome]]


@dataclass
class Recheck:
    asked: int                                   # due invoices asked about
    answered: int                                # those the provider answered
    changed: list[tuple[Row, InvoiceOutcome]]    # those whose status changed
    error: ProviderError | None                       # the first whole-call failure, if any

    @property
    def outage(self) -> bool:
        """The provider answered none of them."""
        return self.asked > 0 and self.answered == 0


def outcome_line(invoice: Row, outcome: InvoiceOutcome, status: str | None = None,
                 word: dict[str, Any] | None = None) -> dict[str, Any]:
    """The facts a thread reply shows for one invoice, frozen at the moment of the change:
    the status, the provider's code and words, and what the SAT said (`sat_line`)."""
    line = {"ref": invoice["ref_key"], "status": status or outcome.outcome.value,
            "code": outcome.code, "detalle": outcome.detalle}
    return {**line, **sat_line(word)} if word is not None else line


def sat_line(word: dict[str, Any]) -> dict[str, Any]:
    """The SAT's answer in a thread line: Estado and EstatusCancelacion (which drive the
    words), or why it did not answer."""
    if word.get("sat"):
        said = SatStatus(**word["sat"])
        return {"sat_estado": said.state.value, "sat_cancelacion": said.cancelacion.value}
    return {"sat_error": word.get("sat_error") or "error"}


async def submit(store: AuditStore, pac: Provider, request_id: int, actor: Actor = SYSTEM, *,
                 backoff_s: Sequence[float] = DEFAULT_BACKOFF_S,
                 failure: int | None = None, sat: SatWord | None = None) -> Submission:
    """Approved (or failed, to resubmit) -> submitting -> call the provider -> record it.
    A resubmission names the failure it answers (`failure`, the Retry button's): a button
    left from an earlier failure is stale (StaleState), so two Retry clicks call once."""
    async with store.writing() as tx:
        before = tx.request_status(request_id)
        if before == RS.FAILED and failure is not None and failure != tx.failures(request_id):
            raise StaleState("request", request_id, {f"failure {failure}"},
                             f"failure {tx.failures(request_id)}")
        tx.transition("request", request_id, RS.SUBMITTING, actor,
                      expect={RS.APPROVED, RS.FAILED})
        if before == RS.FAILED:
            tx.enqueue(request_id, Reply.RESUBMITTED, {"user": actor.id})
            for invoice in queries.request_invoices(store, request_id):
                if invoice["status"] == IS.FAILED:
                    tx.transition("invoice", invoice["id"], IS.REQUESTED, actor,
                                  action="invoice_resubmitted")
    return await run_submission(store, pac, request_id, backoff_s=backoff_s, sat=sat)


def _at_the_sat_already(invoice: Row) -> bool:
    """The facts on record say the SAT shows the invoice cancelled: not sent again."""
    facts = json.loads(invoice.get("facts") or "null") or {}
    return cancelled(SatStatus(**facts["sat"]) if facts.get("sat") else None)


async def run_submission(store: AuditStore, pac: Provider, request_id: int, *,
                         backoff_s: Sequence[float] = DEFAULT_BACKOFF_S,
                         resumed: bool = False, sat: SatWord | None = None) -> Submission:
    """Call the provider for a request in `submitting`; also resumes one left by a stop
    (`resumed`: then "already cancelled" is most likely our own interrupted call's work).
    A cancellation leaves out the invoices the SAT already showed cancelled when their facts
    were looked up, and asks the SAT to confirm what the provider says it cancelled."""
    request = queries.get_request(store, request_id)
    assert request is not None and request["status"] == RS.SUBMITTING, request
    requested = [i for i in queries.request_invoices(store, request_id)
                 if i["status"] == IS.REQUESTED]
    cancelling = request["kind"] == "cancel"
    gone = [i for i in requested if cancelling and _at_the_sat_already(i)]
    invoices = [i for i in requested if i not in gone]
    refs = [ref_of(i) for i in invoices]
    words: dict[int, dict[str, Any]] = {}
    if cancelling:
        result = await pac.cancel([_item(i, request) for i in invoices]) if invoices else None
        outcomes = [] if result is None else \
            [_ours(o) for o in result.outcomes] if resumed else result.outcomes
        words = await _sat_words(sat, invoices, outcomes)
    else:
        sent = await pac.send(send_request_of(request, refs))
        outcomes = _per_invoice(refs, sent.outcomes)
    crash_point("provider_answered")
    now = store.clock()
    async with store.writing() as tx:
        said = {i["id"]: _leave_out(tx, i) for i in gone}
        for invoice, outcome in zip(invoices, outcomes, strict=True):
            said[invoice["id"]] = _record_outcome(tx, invoice, outcome, now, backoff_s,
                                                  _word(sat, words, invoice), _hours(sat))[1]
        lines = [said[i["id"]] for i in requested if i["id"] in said]  # in the typed order
        whole_call_failed = bool(outcomes) and all(o.error_class for o in outcomes)
        if whole_call_failed:
            first = outcomes[0]
            # An unreadable answer is not a refusal: the cancellation may have happened.
            klass = "unreadable" if first.code == "malformed" else first.error_class
            failure = {"code": first.code, "message": first.detalle, "class": klass,
                       "attempt": tx.failures(request_id) + 1}
            if gone:  # settled without the provider: the failure reply names them too
                failure["left_out"] = [said[i["id"]] for i in gone]
            tx.transition("request", request_id, RS.FAILED, SYSTEM, action="submission_failed",
                          details=failure)
            tx.enqueue(request_id, Reply.FAILED, failure)
        else:
            tx.transition("request", request_id, RS.SUBMITTED, SYSTEM)
            tx.enqueue(request_id, Reply.OUTCOMES, {"invoices": lines})
            complete_if_final(tx, request_id)
        status = tx.request_status(request_id) or "missing"
    return Submission(request_id, status, list(zip(invoices, outcomes, strict=True)))


async def recheck_pending(store: AuditStore, pac: Provider, *, limit: int | None = None,
                          backoff_s: Sequence[float] = DEFAULT_BACKOFF_S,
                          sat: SatWord | None = None) -> Recheck:
    """Ask again for the pending invoices that are due (the watcher)."""
    return await recheck(store, pac, queries.due_pending(store, store.clock(), limit or -1),
                         backoff_s, sat)


async def recheck(store: AuditStore, pac: Provider, due: list[Row],
                  backoff_s: Sequence[float], sat: SatWord | None, *,
                  one_per_call: bool = True) -> Recheck:
    """Ask about each pending invoice alone (the provider's in-process and denied codes, 211
    and 213, are a one-invoice call's answer), or in batches (`one_per_call` False: what
    the SAT only received, bot/received.py). Each change is one transition with its thread
    reply queued in the same transaction; the answers are written a batch at a time, each
    batch its own short transaction, so Slack's answers never wait behind a long write. A
    whole-call failure changes nothing: those invoices stay due and are asked next time."""
    if not due:
        return Recheck(0, 0, [], None)
    now = store.clock()
    requests = queries.requests_by_id(store, sorted({i["request_id"] for i in due}))
    items = [_item(i, requests[i["request_id"]]) for i in due]
    result = await pac.cancel(items, one_per_call=one_per_call)
    outcomes = [o if o.error_class else _ours(o) for o in result.outcomes]
    words = await _sat_words(sat, due, outcomes)
    crash_point("provider_answered")
    changed: list[tuple[Row, InvoiceOutcome]] = []
    answers = list(zip(due, outcomes, strict=True))
    for start in range(0, len(answers), WRITE_BATCH):
        batch = answers[start:start + WRITE_BATCH]
        async with store.writing() as tx:
            touched = set()
            for invoice, outcome in batch:
                if outcome.error_class:
                    continue
                moved, line = _record_outcome(tx, invoice, outcome, now, backoff_s,
                                              _word(sat, words, invoice), _hours(sat))
                if moved:
                    tx.enqueue(invoice["request_id"], Reply.RESOLVED, line)
                    changed.append((invoice, outcome))
                    touched.add(invoice["request_id"])
            for request_id in sorted(touched):
                complete_if_final(tx, request_id)
        await asyncio.sleep(0)  # let the acks waiting on the loop go first
    answered = sum(1 for outcome in result.outcomes if not outcome.error_class)
    return Recheck(len(due), answered, changed, result.error)


def _ours(outcome: InvoiceOutcome) -> InvoiceOutcome:
    """Asking again about our own cancellation (pending, or interrupted by a stop): "already
    cancelled" means it went through."""
    if outcome.outcome is Outcome.ALREADY_CANCELED:
        return outcome.model_copy(update={"outcome": Outcome.CANCELED})
    return outcome


def _item(invoice: Row, request: Row) -> CancelItem:
    return CancelItem(ref=ref_of(invoice), reason=request["reason"],
                      replacement=request["replacement_uuid"])


async def _sat_words(sat: SatWord | None, invoices: Sequence[Row],
                     outcomes: Sequence[InvoiceOutcome]) -> dict[int, dict[str, Any]]:
    """The SAT's word on each invoice the provider says it cancelled (by row id)."""
    if sat is None or not sat.asks_sat:
        return {}
    told = [i for i, o in zip(invoices, outcomes, strict=True)
            if o.outcome is Outcome.CANCELED and not o.error_class]
    return await sat.ask_again(told) if told else {}


def _word(sat: SatWord | None, words: dict[int, dict[str, Any]], invoice: Row
          ) -> dict[str, Any]:
    if sat is None or not sat.asks_sat:
        return {"sat": None, "sat_error": SAT_OFF}
    return words.get(invoice["id"]) or {"sat": None, "sat_error": "error"}


def _hours(sat: SatWord | None) -> float | None:
    return sat.confirm_h if sat is not None else None


def sat_fields(invoice: Row, word: dict[str, Any]) -> dict[str, Any]:
    """The SAT's answer kept with the invoice's facts (the card shows the latest); a failed
    ask keeps the last answer there (its error is in the event)."""
    if not word.get("sat") and not word.get("invoice"):
        return {}
    known = json.loads(invoice.get("facts") or "null") or {}
    if not word.get("sat"):
        return {"facts": json.dumps({**known, "invoice": word["invoice"]})}
    return {"facts": json.dumps({**known, **word})}


def _leave_out(tx: Tx, invoice: Row) -> dict[str, Any]:
    """An invoice the SAT already showed cancelled: never sent to the provider."""
    line = {"ref": invoice["ref_key"], "status": IS.ALREADY_CANCELED.value,
            "code": ALREADY_AT_SAT, "detalle": None}
    tx.transition("invoice", invoice["id"], IS.ALREADY_CANCELED, SYSTEM,
                  expect=IS.REQUESTED, action="sat_already_canceled",
                  fields={"code": ALREADY_AT_SAT})
    return line


def _target(outcome: InvoiceOutcome, word: dict[str, Any]) -> IS:
    """The provider's "cancelled" is `canceled` only when the SAT shows it so."""
    if outcome.outcome is not Outcome.CANCELED:
        return IS(outcome.outcome.value)
    if word.get("sat_error") == SAT_OFF:
        return IS.UNCONFIRMED
    said = SatStatus(**word["sat"]) if word.get("sat") else None
    return IS.CANCELED if verdict(said) is Verdict.CONFIRMED else IS.AWAITING_SAT


def _record_outcome(tx: Tx, invoice: Row, outcome: InvoiceOutcome, now: datetime,
                    backoff_s: Sequence[float], word: dict[str, Any] | None = None,
                    hours: float | None = None) -> tuple[bool, dict[str, Any]]:
    """Write one provider answer (with the SAT's word on a cancellation); whether it changed
    the invoice's status, and the thread's line for it."""
    attempts = invoice["attempts"] + 1
    if outcome.nuance is Nuance.UNNAMED and attempts >= UNNAMED_ASKS:
        # Asked again and again, the provider's answers never named it: nobody can tell.
        outcome = outcome.model_copy(update={"outcome": Outcome.UNKNOWN, "nuance": None})
    fields: dict[str, Any] = {"code": outcome.code, "detalle": outcome.detalle,
                              "estatus_uuid": outcome.estatus_uuid, "attempts": attempts}
    if outcome.acuse:
        fields["acuse"] = outcome.acuse
    told = outcome.outcome is Outcome.CANCELED and word is not None
    target = _target(outcome, word) if told and word is not None else IS(outcome.outcome.value)
    line = outcome_line(invoice, outcome, target, word if told else None)
    if target is IS.AWAITING_SAT and hours is not None:
        line["hours"] = hours  # how long the SAT will be asked, said in the thread
    if outcome.outcome is Outcome.PENDING:
        fields["next_check_at"] = next_check(now, attempts, backoff_s)
    if target == invoice["status"]:
        tx.set_fields("invoice", invoice["id"], fields)  # still pending: only the schedule
        return False, line
    if target in (IS.PENDING, IS.AWAITING_SAT):
        fields["pending_since"] = iso(now)
    if target is IS.AWAITING_SAT:
        fields["next_check_at"] = next_check(now, 1, backoff_s)
    elif target is not IS.PENDING:
        fields["next_check_at"] = None
    details = {"code": outcome.code, "detalle": outcome.detalle,
               "estatus_uuid": outcome.estatus_uuid, "nuance": outcome.nuance,
               "error_class": outcome.error_class}
    if told and word is not None:
        fields.update({"sat_asks": 1, **sat_fields(invoice, word)})
        details.update({"sat": word.get("sat"), "sat_error": word.get("sat_error")})
    try:
        # Compare-and-set on the status read before the provider was asked: another ask
        # (a resumed submission confirming, a watcher cycle) may have recorded an answer
        # meanwhile, and a stale answer must neither overwrite it nor fail the batch.
        tx.transition("invoice", invoice["id"], target, SYSTEM,
                      expect=invoice["status"], action="provider_answered", fields=fields,
                      details=details)
    except StaleState:
        return False, line
    return True, line


def complete_if_final(tx: Tx, request_id: int) -> None:
    if tx.request_status(request_id) == RS.SUBMITTED and all(
            status in FINAL_INVOICE for status in tx.invoice_statuses(request_id)):
        tx.transition("request", request_id, RS.COMPLETED, SYSTEM)
        tx.enqueue(request_id, Reply.COMPLETED)


def _per_invoice(refs: Sequence[InvoiceRef], outcomes: Sequence[SendOutcome]
                 ) -> list[InvoiceOutcome]:
    """The provider answers an e-mail call as a whole: each invoice takes the worst of its
    recipients' outcomes. An unknown one is never a failure to retry: the mail may be out."""
    result = []
    for ref in refs:
        mine = [o for o in outcomes if o.ref.key == ref.key]
        worst = next((kind for kind in (Outcome.UNKNOWN, Outcome.FAILED)
                      if any(o.outcome is kind for o in mine)), Outcome.SENT)
        first = next((o for o in mine if o.outcome is worst), None)
        result.append(InvoiceOutcome(
            ref=ref, outcome=worst if mine else Outcome.UNKNOWN,
            code=first.code if first else "missing_result",
            detalle=first.detalle if first else None,
            error_class=first.error_class if first and worst is Outcome.FAILED else None))
    return result


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

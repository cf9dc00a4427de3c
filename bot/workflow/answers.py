"""Calling the provider for a request, and recording its answers invoice by invoice:
submit, resume, re-check pending invoices (what the SAT only received: received.py). The
Slack path and the watcher both come here, so an invoice resolved at once by an approval and
one resolved later by the watcher go through one code path. The provider is called between
transactions, never while holding the write lock.

Why this module is long: submitting and re-checking record answers through one function
(`_record_outcome`), so the two paths cannot drift apart."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot.actors import SYSTEM, Actor
from bot.config import DEFAULT_WATCH_BACKOFF_S
from bot.providers.contract import FailureCode, InvoiceOutcome, Provider, ProviderError, SendOutcome
from bot.runtime.faults import crash_point
from bot.sat.confirmation import Verdict, cancelled, verdict
from bot.sat.outcomes import Nuance, Outcome
from bot.sat.record import FactsRecord
from bot.sat.refs import InvoiceRef
from bot.workflow.pace import WRITES, Pace
from bot.workflow.sat_words import (
    SAT_OFF,
    SatWord,
    ask_sat,
    confirm_hours,
    outcome_line,
    sat_fields,
    word_for,
)
from bot.workflow.transitions import complete_if_final, item_of, ref_of, send_request_of
from storage import queries
from storage.domain import Row, ThreadLine
from storage.errors import StaleState
from storage.sql import iso
from storage.states import InvoiceStatus as IS
from storage.states import ReplyKind as Reply
from storage.states import RequestKind
from storage.states import RequestStatus as RS
from storage.store import AuditStore
from storage.tx import Tx

DEFAULT_BACKOFF_S = DEFAULT_WATCH_BACKOFF_S  # WATCH_BACKOFF_S's default
RECEIVED_CODE = "sat:201"   # the SAT received the request: not yet known to be cancelled
UNNAMED_ASKS = 3            # asks without the answer naming an invoice before it is unknown
WRITE_BATCH = WRITES  # provider answers written per transaction (then the acks go first)
ALREADY_AT_SAT = "sat:cancelado"  # the code of an invoice left out: the SAT shows it cancelled


def next_check(now: datetime, attempts: int, backoff_s: Sequence[float]) -> str:
    step = backoff_s[min(max(attempts - 1, 0), len(backoff_s) - 1)]
    return iso(now + timedelta(seconds=step))


@dataclass
class Submission:
    """What one submission of a request to the provider came to."""

    request_id: int
    status: str
    outcomes: list[tuple[Row, InvoiceOutcome]]


@dataclass
class Recheck:
    """What one round of asking the provider about pending invoices came to."""

    asked: int                                   # due invoices asked about
    answered: int                                # those the provider answered
    changed: list[tuple[Row, InvoiceOutcome]]    # those whose status changed
    error: ProviderError | None                       # the first whole-call failure, if any

    @property
    def outage(self) -> bool:
        """The provider answered none of them."""
        return self.asked > 0 and self.answered == 0


async def submit(store: AuditStore, pac: Provider, request_id: int, actor: Actor = SYSTEM, *,
                 backoff_s: Sequence[float] = DEFAULT_BACKOFF_S,
                 failure: int | None = None, sat: SatWord | None = None,
                 pace: Pace | None = None) -> Submission:
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
    return await run_submission(store, pac, request_id, backoff_s=backoff_s, sat=sat,
                                pace=pace)


def _at_the_sat_already(invoice: Row) -> bool:
    """The facts on record say the SAT shows the invoice cancelled: not sent again."""
    facts = FactsRecord.of(invoice.get("facts"))
    return cancelled(facts.sat if facts else None)


async def run_submission(store: AuditStore, pac: Provider, request_id: int, *,
                         backoff_s: Sequence[float] = DEFAULT_BACKOFF_S,
                         resumed: bool = False, sat: SatWord | None = None,
                         pace: Pace | None = None) -> Submission:
    """Call the provider for a request in `submitting`; also resumes one left by a stop
    (`resumed`: then "already cancelled" is most likely our own interrupted call's work).
    A cancellation leaves out the invoices the SAT already showed cancelled when their facts
    were looked up, and asks the SAT to confirm what the provider says it cancelled.
    A large request's calls and writes go at `pace` (bot/workflow/pace.py)."""
    request = queries.get_request(store, request_id)
    assert request is not None and request["status"] == RS.SUBMITTING, request
    pace = pace or Pace()
    requested = [i for i in await queries.request_invoices_off_loop(store, request_id)
                 if i["status"] == IS.REQUESTED]
    cancelling = request["kind"] == RequestKind.CANCEL
    # Thousands of rows: each pass over them a slice at a time (pace.spread).
    left_out = await pace.spread(requested, lambda i: cancelling and _at_the_sat_already(i))
    gone = [i for i, out in zip(requested, left_out, strict=True) if out]
    invoices = [i for i, out in zip(requested, left_out, strict=True) if not out]
    words: dict[int, FactsRecord] = {}
    if cancelling:
        items = await pace.spread(invoices, lambda i: item_of(i, request))
        result = await pac.cancel(items, step=pace.gate(len(invoices))) if invoices else None
        outcomes = [] if result is None else \
            [_ours(o) for o in result.outcomes] if resumed else result.outcomes
        words = await ask_sat(sat, invoices, outcomes)
    else:
        refs = [ref_of(i) for i in invoices]
        sent = await pac.send(send_request_of(request, refs))
        outcomes = _per_invoice(refs, sent.outcomes)
    crash_point("provider_answered")
    now = store.clock()
    said: dict[int, dict[str, Any]] = {}  # each invoice's thread line, as JSON
    answers = list(zip(invoices, outcomes, strict=True))

    def record(tx: Tx, batch: list[tuple[Row, InvoiceOutcome]]) -> None:
        for invoice, outcome in batch:
            word = word_for(sat, words, invoice)
            said[invoice["id"]] = _record_outcome(tx, invoice, outcome, now, backoff_s, word,
                                                  confirm_hours(sat))[1].as_json()

    # A large answer is written a batch per transaction, the acks waiting on the loop going
    # between; the last batch moves the request. (A stop in between leaves it `submitting`:
    # resumed, only the invoices still `requested` are asked again.)
    last = max(len(answers) - WRITE_BATCH, 0)
    for start in range(0, last, WRITE_BATCH):
        batch = answers[start:min(start + WRITE_BATCH, last)]
        await store.write(functools.partial(record, batch=batch),
                          off_loop=pace.large(len(requested)))
        await pace.turn(len(answers))

    def close(tx: Tx) -> str:
        """The last batch, the request moved and its reply queued; its status."""
        said.update({i["id"]: _leave_out(tx, i).as_json() for i in gone})
        record(tx, answers[last:])
        lines = [said[i["id"]] for i in requested if i["id"] in said]  # typed order
        whole_call_failed = bool(outcomes) and all(o.error_class for o in outcomes)
        if whole_call_failed:
            first = outcomes[0]
            # An unreadable answer is not a refusal: the cancellation may have happened.
            klass = "unreadable" if first.code == FailureCode.MALFORMED else first.error_class
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
        return tx.request_status(request_id) or "missing"

    # A large request's writes (its last one queues a reply of thousands of lines) go off
    # the loop.
    status = await store.write(close, off_loop=pace.large(len(requested)))
    return Submission(request_id, status, list(zip(invoices, outcomes, strict=True)))


async def recheck_pending(store: AuditStore, pac: Provider, *, limit: int | None = None,
                          backoff_s: Sequence[float] = DEFAULT_BACKOFF_S,
                          sat: SatWord | None = None, pace: Pace | None = None) -> Recheck:
    """Ask again for the pending invoices that are due (the watcher)."""
    return await recheck(store, pac, queries.due_pending(store, store.clock(), limit or -1),
                         backoff_s, sat, pace=pace)


async def recheck(store: AuditStore, pac: Provider, due: list[Row],
                  backoff_s: Sequence[float], sat: SatWord | None, *,
                  one_per_call: bool = True, pace: Pace | None = None) -> Recheck:
    """Ask about each pending invoice alone (the provider's in-process and denied codes, 211
    and 213, are a one-invoice call's answer), or in batches (`one_per_call` False: what
    the SAT only received, bot/received.py). Each change is one transition with its thread
    reply queued in the same transaction; the answers are written a batch at a time, each
    batch its own short transaction, so Slack's answers never wait behind a long write. A
    whole-call failure changes nothing: those invoices stay due and are asked next time."""
    if not due:
        return Recheck(0, 0, [], None)
    now, pace = store.clock(), pace or Pace()
    requests = queries.requests_by_id(store, sorted({i["request_id"] for i in due}))
    items = await pace.spread(due, lambda i: item_of(i, requests[i["request_id"]]))
    result = await pac.cancel(items, one_per_call=one_per_call, step=pace.gate(len(items)))
    outcomes = [o if o.error_class else _ours(o) for o in result.outcomes]
    words = await ask_sat(sat, due, outcomes)
    crash_point("provider_answered")
    changed: list[tuple[Row, InvoiceOutcome]] = []
    answers = list(zip(due, outcomes, strict=True))

    def write(tx: Tx, batch: list[tuple[Row, InvoiceOutcome]]) -> None:
        touched = set()
        for invoice, outcome in batch:
            if outcome.error_class:
                continue
            moved, line = _record_outcome(tx, invoice, outcome, now, backoff_s,
                                          word_for(sat, words, invoice), confirm_hours(sat))
            if moved:
                tx.enqueue(invoice["request_id"], Reply.RESOLVED, line.as_json())
                changed.append((invoice, outcome))
                touched.add(invoice["request_id"])
        for request_id in sorted(touched):
            complete_if_final(tx, request_id)

    for start in range(0, len(answers), WRITE_BATCH):
        # A large job's batches are written off the loop (AuditStore.write).
        await store.write(functools.partial(write, batch=answers[start:start + WRITE_BATCH]),
                          off_loop=pace.large(len(answers)))
        await pace.turn(len(answers))  # let the acks waiting on the loop go first
    answered = sum(1 for outcome in result.outcomes if not outcome.error_class)
    return Recheck(len(due), answered, changed, result.error)


def _ours(outcome: InvoiceOutcome) -> InvoiceOutcome:
    """Asking again about our own cancellation (pending, or interrupted by a stop): "already
    cancelled" means it went through."""
    if outcome.outcome is Outcome.ALREADY_CANCELED:
        return outcome.model_copy(update={"outcome": Outcome.CANCELED})
    return outcome


def _leave_out(tx: Tx, invoice: Row) -> ThreadLine:
    """An invoice the SAT already showed cancelled: never sent to the provider."""
    line = ThreadLine(ref=invoice["ref_key"], status=IS.ALREADY_CANCELED.value,
                      code=ALREADY_AT_SAT)
    tx.transition("invoice", invoice["id"], IS.ALREADY_CANCELED, SYSTEM,
                  expect=IS.REQUESTED, action="sat_already_canceled",
                  fields={"code": ALREADY_AT_SAT})
    return line


def _target(outcome: InvoiceOutcome, word: FactsRecord) -> IS:
    """The provider's "cancelled" is `canceled` only when the SAT shows it so."""
    if outcome.outcome is not Outcome.CANCELED:
        return IS(outcome.outcome.value)
    if word.sat_error == SAT_OFF:
        return IS.UNCONFIRMED
    said = word.sat
    return IS.CANCELED if verdict(said) is Verdict.CONFIRMED else IS.AWAITING_SAT


def _record_outcome(tx: Tx, invoice: Row, outcome: InvoiceOutcome, now: datetime,
                    backoff_s: Sequence[float], word: FactsRecord | None = None,
                    hours: float | None = None) -> tuple[bool, ThreadLine]:
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
        line = replace(line, hours=hours)  # how long the SAT will be asked, said in the thread
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
    if invoice.get("reason") or invoice.get("replacement"):  # its own, not the request's
        details.update({"reason": invoice.get("reason"),
                        "replacement": invoice.get("replacement")})
    if told and word is not None:
        fields.update({"sat_asks": 1, **sat_fields(invoice, word)})
        details.update({"sat": word.sat_json, "sat_error": word.sat_error})
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
            code=first.code if first else FailureCode.MISSING_RESULT,
            detalle=first.detalle if first else None,
            error_class=first.error_class if first and worst is Outcome.FAILED else None))
    return result

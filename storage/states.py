"""Every status a request or an invoice can have, the allowed moves between them
(docs/architecture.md, "States"), and the kinds of request. The one home of these names: the
state machine, the queries, the use cases and the tests all use these enums.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

Entity = Literal["request", "invoice"]


class RequestKind(StrEnum):
    """What a request asks the provider for."""

    CANCEL = "cancel"
    SEND = "send"


class RequestStatus(StrEnum):
    """Every status a request can have."""

    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"  # the requester took it back while it awaited approval


class InvoiceStatus(StrEnum):
    """The values of the provider outcomes (bot.sat.outcomes.Outcome) are among these."""

    REQUESTED = "requested"
    CANCELED = "canceled"
    ALREADY_CANCELED = "already_canceled"
    PENDING = "pending"
    DENIED = "denied"
    NOT_CANCELABLE = "not_cancelable"
    FAILED = "failed"
    EXPIRED = "expired"
    SENT = "sent"
    UNKNOWN = "unknown"  # the outcome cannot be known from here: a person checks and decides
    REJECTED = "rejected"  # its request was rejected before reaching the provider
    # The provider says cancelled; the SAT's status service does not show it yet: asked
    # again until it says Cancelado (then `canceled`), for SAT_CONFIRM_H at most.
    AWAITING_SAT = "awaiting_sat"
    # The provider says cancelled, but the SAT never confirmed it (not within SAT_CONFIRM_H,
    # or the SAT is not asked): final; a person checks on the SAT's portal.
    UNCONFIRMED = "unconfirmed"
    WITHDRAWN = "withdrawn"  # its request was withdrawn before reaching the provider


class ReplyKind(StrEnum):
    """What a thread reply queued in the outbox tells (several may share one message)."""

    APPROVAL_COUNTED = "approval_counted"
    APPROVED = "approved"
    RESUBMITTED = "resubmitted"
    OUTCOMES = "outcomes"
    RESOLVED = "resolved"
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    ESCALATED = "escalated"
    WITHDRAWN = "withdrawn"


R, IS = RequestStatus, InvoiceStatus

REQUEST_MOVES: dict[str | None, frozenset[str]] = {
    None: frozenset({R.AWAITING_APPROVAL}),
    R.AWAITING_APPROVAL: frozenset({R.APPROVED, R.REJECTED, R.EXPIRED, R.FAILED,
                                  R.WITHDRAWN}),
    R.APPROVED: frozenset({R.SUBMITTING, R.FAILED}),
    R.SUBMITTING: frozenset({R.SUBMITTED, R.FAILED}),
    R.SUBMITTED: frozenset({R.COMPLETED}),
    # An approver may resubmit a failed request (cancelling twice is safe).
    R.FAILED: frozenset({R.SUBMITTING}),
}

_ANSWERS = frozenset({IS.CANCELED, IS.ALREADY_CANCELED, IS.PENDING, IS.DENIED, IS.NOT_CANCELABLE,
                      IS.FAILED, IS.SENT, IS.UNKNOWN, IS.AWAITING_SAT, IS.UNCONFIRMED})
INVOICE_MOVES: dict[str | None, frozenset[str]] = {
    None: frozenset({IS.REQUESTED}),
    # Rejection, expiry and withdrawal close the invoices of a request that never reached
    # the provider.
    IS.REQUESTED: _ANSWERS | {IS.REJECTED, IS.EXPIRED, IS.WITHDRAWN},
    # The watcher's outcomes; `failed` is a final provider error found while watching.
    IS.PENDING: frozenset({IS.CANCELED, IS.DENIED, IS.NOT_CANCELABLE, IS.EXPIRED, IS.FAILED,
                           IS.UNKNOWN, IS.AWAITING_SAT, IS.UNCONFIRMED}),
    # The SAT's word on the provider's "cancelled": confirmed, refused by the receiver, or
    # not given in time.
    IS.AWAITING_SAT: frozenset({IS.CANCELED, IS.DENIED, IS.UNCONFIRMED}),
    # The SAT shows it cancelled after all (the daily reconciliation).
    IS.UNCONFIRMED: frozenset({IS.CANCELED}),
    # Resubmission of a failed request puts its failed invoices back in line.
    IS.FAILED: frozenset({IS.REQUESTED}),
}

MOVES: dict[Entity, dict[str | None, frozenset[str]]] = {
    "request": REQUEST_MOVES, "invoice": INVOICE_MOVES,
}
FINAL_INVOICE = frozenset({IS.CANCELED, IS.ALREADY_CANCELED, IS.DENIED, IS.NOT_CANCELABLE,
                           IS.FAILED, IS.EXPIRED, IS.SENT, IS.UNKNOWN, IS.REJECTED,
                           IS.UNCONFIRMED, IS.WITHDRAWN})
FINAL_REQUEST = frozenset({R.COMPLETED, R.REJECTED, R.EXPIRED, R.FAILED, R.WITHDRAWN})
# Requests that no longer need a card or count as open (a failed one may still be retried).
CLOSED_REQUEST = frozenset({R.COMPLETED, R.REJECTED, R.EXPIRED, R.WITHDRAWN})
# States of an invoice in a cancellation that keep it out of a new one: in flight, or
# cancelled. Such a row is `live`, and a unique index allows one live row per invoice.
# `unconfirmed` is not: the SAT never showed it cancelled, and a person who finds it still
# valid on the SAT's portal asks again (safe: a second cancellation answers "already
# cancelled").
OPEN_OR_DONE = (IS.REQUESTED, IS.PENDING, IS.CANCELED, IS.ALREADY_CANCELED, IS.AWAITING_SAT)
# What the daily reconciliation asks the SAT about (bot/watching/reconciliation.py):
# what the bot believes
# pending, any row of an open request, and what it believes cancelled or not cancelled
# lately (one cancelled outside the bot shows up as a disagreement).
BELIEVED_PENDING = (IS.PENDING, IS.AWAITING_SAT, IS.UNCONFIRMED, IS.REQUESTED)
BELIEVED_CANCELLED = (IS.CANCELED, IS.ALREADY_CANCELED)
BELIEVED_NOT_CANCELLED = (IS.REJECTED, IS.EXPIRED, IS.FAILED, IS.DENIED, IS.NOT_CANCELABLE,
                          IS.UNKNOWN, IS.WITHDRAWN)


def live(kind: str, status: str) -> int:
    """1 when an invoice row in a request of `kind` blocks a new cancellation of it."""
    return int(kind == RequestKind.CANCEL and status in OPEN_OR_DONE)
# Requests interrupted between approval and the provider's answer (resumed at start).
TO_RESUME = (R.APPROVED, R.SUBMITTING)


def allowed(entity: Entity, current: str | None, target: str) -> bool:
    return target in MOVES[entity].get(current, frozenset())

"""The allowed moves of DESIGN.md's "States". `None` is "not yet written" (creation)."""

from __future__ import annotations

from typing import Literal

Entity = Literal["request", "invoice"]

REQUEST_MOVES: dict[str | None, frozenset[str]] = {
    None: frozenset({"awaiting_approval"}),
    "awaiting_approval": frozenset({"approved", "rejected", "expired", "failed"}),
    "approved": frozenset({"submitting", "failed"}),
    "submitting": frozenset({"submitted", "failed"}),
    "submitted": frozenset({"completed"}),
    # An approver may resubmit a failed request (cancelling twice is safe).
    "failed": frozenset({"submitting"}),
}

_ANSWERS = frozenset({"canceled", "already_canceled", "pending", "denied", "not_cancelable",
                      "failed", "sent"})
INVOICE_MOVES: dict[str | None, frozenset[str]] = {
    None: frozenset({"requested"}),
    "requested": _ANSWERS,
    # The watcher's outcomes; `failed` is a final provider error found while watching.
    "pending": frozenset({"canceled", "denied", "not_cancelable", "expired", "failed"}),
    # Resubmission of a failed request puts its failed invoices back in line.
    "failed": frozenset({"requested"}),
}

MOVES: dict[Entity, dict[str | None, frozenset[str]]] = {
    "request": REQUEST_MOVES, "invoice": INVOICE_MOVES,
}
FINAL_INVOICE = frozenset({"canceled", "already_canceled", "denied", "not_cancelable",
                           "failed", "expired", "sent"})
FINAL_REQUEST = frozenset({"completed", "rejected", "expired", "failed"})


def allowed(entity: Entity, current: str | None, target: str) -> bool:
    return target in MOVES[entity].get(current, frozenset())

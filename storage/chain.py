"""The hash chain over audit events: how an event is hashed, and how the chain is checked.

Each event's hash is SHA-256 over a canonical JSON encoding of its fields and the previous
event's hash. Editing, inserting or deleting an event breaks every link after it; deleting
the newest events leaves a shorter valid chain, so `verify` prints the head hash for
operators to keep elsewhere (a ticket, a Slack message) and compare later.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlite_utils

GENESIS = "0" * 64
FIELDS = ("id", "at", "actor_id", "actor_name", "action", "request_id", "invoice_ref",
          "details")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(event: dict[str, Any], prev_hash: str) -> str:
    """`details` is hashed as its parsed value, so the stored text's spacing cannot matter."""
    body = {name: event[name] for name in FIELDS}
    if isinstance(body["details"], str):
        body["details"] = json.loads(body["details"])
    body["prev_hash"] = prev_hash
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Verdict:
    """What the SAT's answer means for a cancellation the provider reported."""

    checked: int
    head: str                 # hash of the newest event (GENESIS when empty)
    bad_event: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.bad_event is None


def verify(db: sqlite_utils.Database) -> Verdict:
    """Walk the chain oldest first; stop at the first event that does not match."""
    prev_hash, checked = GENESIS, 0
    cursor = db.execute(f"SELECT {', '.join(FIELDS)}, prev_hash, hash FROM events ORDER BY id")
    columns = [c[0] for c in cursor.description]
    for values in cursor:
        event = dict(zip(columns, values, strict=True))
        if event["prev_hash"] != prev_hash:
            return Verdict(checked, prev_hash, event["id"],
                           "its prev_hash does not match the event before it "
                           "(an event was deleted, inserted or edited)")
        try:
            expected = event_hash(event, prev_hash)
        except json.JSONDecodeError:
            expected = ""
        if event["hash"] != expected:
            return Verdict(checked, prev_hash, event["id"],
                           "its content does not match its hash (the event was edited)")
        prev_hash = event["hash"]
        checked += 1
    return Verdict(checked, prev_hash)

"""Signing a checkpoint of the audit log, and recording it as an event in the same
transaction: the head it names cannot move while it is signed, and a checkpoint is published
only once the log holds it (bot/evidence/publishing.py copies it off the host).
"""

from __future__ import annotations

import json

from bot.actors import SYSTEM
from bot.evidence.note import Checkpoint, SignedCheckpoint, SigningKey
from storage import evidence
from storage.store import BACKGROUND_WAIT_S, AuditStore, Tx


class Signer:
    """Signs checkpoints of one audit file with its key, under its origin (the key's name)."""

    def __init__(self, store: AuditStore, key: SigningKey) -> None:
        self.store, self.key = store, key

    def _sign_in(self, tx: Tx, force: bool) -> SignedCheckpoint | None:
        size, head = evidence.head(tx)
        before = evidence.last(tx.conn)
        if not force and (size == 0 or (before is not None and before.event_id == size)):
            return None  # nothing happened since the last checkpoint (which is the head)
        signed = SignedCheckpoint.sign(
            Checkpoint(self.key.name, size, head, self.store.now(),
                       before.signature if before else None), self.key)
        event = tx.record(SYSTEM, evidence.ACTION, details={
            "size": size, "signature": signed.signature, "note": signed.note})
        if json.loads(event["details"])["note"] != signed.note:
            # A form of a secret inside the note was masked: the log would hold another text
            # than the one signed. Rolled back; the next try signs another time, another text.
            raise ValueError("the checkpoint's text holds a form of a secret; not recorded")
        evidence.owe_copies(tx, int(event["id"]))
        return signed

    async def sign(self, force: bool = False, within_s: float = BACKGROUND_WAIT_S
                   ) -> SignedCheckpoint | None:
        """Never blocks the loop on another writer's lock (the command line runs it too).
        Without `force`, None when no event was written since the last checkpoint."""
        async with self.store.writing(within_s) as tx:
            return self._sign_in(tx, force)

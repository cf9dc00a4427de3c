"""The checkpoints while the bot runs: the key checked at start, a checkpoint signed when
AUDIT_CHECKPOINT_EVERY_H has passed since the last one and events were written meanwhile,
one more at each stop, and every owed copy made (the file, then Slack) after each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime

from bot.config import Settings
from bot.evidence import keys
from bot.evidence.note import SigningKey
from bot.evidence.publishing import Post, Publisher, metadata, slack_text
from bot.evidence.signing import Signer
from bot.i18n import t
from bot.slack.io import SlackIO
from storage import evidence
from storage.store import AuditStore

log = logging.getLogger(__name__)
LOOK_EVERY_S = 60.0     # how often the periodic task asks whether a checkpoint is due
STOP_WAIT_S = 3.0       # how long a stop waits for the write lock, then for the copies


def signing_key(settings: Settings, store: AuditStore) -> SigningKey | None:
    """AUDIT_SIGNING_KEY loaded and checked against the key the file recorded (recorded
    now when it has none). None without the setting. Raises keys.KeyProblem."""
    recorded = evidence.recorded_key(store.db)
    if settings.audit_signing_key is None:
        if recorded is not None:
            log.warning(t("checkpoint.stopped", "en", recorded=recorded))
        return None
    key = checked_key(settings, recorded)
    if recorded is None:
        keys.matches(key, evidence.record_key(store, key.public.text()),
                     settings.audit_signing_key, settings.language)
    log.info("checkpoints of the audit log are signed with the public key %s",
             key.public.text())
    return key


def checked_key(settings: Settings, recorded: str | None) -> SigningKey:
    """AUDIT_SIGNING_KEY (set) loaded and compared with `recorded`; nothing written.
    Raises keys.KeyProblem."""
    path = settings.audit_signing_key
    assert path is not None
    key = keys.load(path, keys.origin(settings), settings.language)
    keys.matches(key, recorded, path, settings.language)
    return key


def slack_post(io: SlackIO, channel: str) -> Post:
    """Post one checkpoint to `channel`: the note in the text and, byte for byte, in the
    message's metadata. Slack's ts, or None when Slack refused (audited by SlackIO)."""
    async def post(recorded: evidence.Recorded) -> str | None:
        answer = await io.call("chat.postMessage", io.client.chat_postMessage,
                               channel=channel, metadata=metadata(recorded),
                               **io.msg(slack_text(recorded, io.lang)))
        return str(answer["ts"]) if answer else None
    return post


@dataclass
class Checkpointing:
    """Signs and publishes the audit log's checkpoints for the running bot."""

    store: AuditStore
    signer: Signer
    publisher: Publisher
    every_s: float

    @classmethod
    def start(cls, settings: Settings, store: AuditStore, io: SlackIO) -> Checkpointing | None:
        """None without AUDIT_SIGNING_KEY. Raises keys.KeyProblem."""
        key = signing_key(settings, store)
        if key is None:
            return None
        channel = settings.checkpoint_channel
        return cls(store, Signer(store, key), Publisher(
            store, settings.checkpoints_file, slack_post(io, channel) if channel else None),
            settings.audit_checkpoint_every_h * 3600)

    def due(self) -> bool:
        """No checkpoint yet, or the last one is AUDIT_CHECKPOINT_EVERY_H old (the signer
        then skips it when no event was written since)."""
        last = evidence.last(self.store.db.conn)
        if last is None:
            return True
        age = self.store.clock() - datetime.fromisoformat(last.at)
        return age.total_seconds() >= self.every_s

    async def periodic(self) -> float:
        if self.due():
            await self.signer.sign()
        await self.publisher.publish()
        return min(LOOK_EVERY_S, self.every_s)

    async def at_stop(self) -> None:
        """The last checkpoint, when events were written since the one before; its copies
        get STOP_WAIT_S (what is not copied then is owed to the next start)."""
        try:
            await self.signer.sign(within_s=STOP_WAIT_S)
        except Exception:  # a stop goes on: the log holds everything that happened
            log.exception("could not sign the checkpoint at stop")
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.publisher.publish(), STOP_WAIT_S)
